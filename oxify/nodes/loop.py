"""The Loop node: ForEach, While and Repeat, with an expression or a sub-workflow body.

With ``body_expression`` (the OxiFY form) each iteration renders the template with the loop
variables bound, as the Rust engine does. With a sub-workflow body (``body`` inline or a
path, ``workflow_path``) each iteration is a child execution whose inputs are the workflow's
inputs plus the loop variables; ForEach iterations run ``max_concurrency`` at a time when
``parallel`` is true (one at a time otherwise). Output: ``{loop_type, iterations,
results}``, results in input order.
"""

from __future__ import annotations

from typing import Any

from oxify.errors import NodeError
from oxify.model.definition import body_ref
from oxify.model.kinds import ForEachLoop, LoopConfig, RepeatLoop, WhileLoop
from oxify.nodes.base import NodeContext
from oxify.nodes.composite import ChildResult, ChildSpec, Spawn
from oxify.nodes.expressions import evaluate_body, first_failure


class LoopExecutor:
    """Composite executor of ``Loop`` nodes."""

    def begin(self, ctx: NodeContext) -> Any:
        cfg: LoopConfig = ctx.config
        lt = cfg.loop_type
        ref = body_ref(ctx.node, "loop_type.body") or body_ref(ctx.node, "loop_type.workflow_path")
        if ref is None and lt.body_expression is None:
            raise NodeError(f"loop {ctx.node.label} has no body_expression and no body")
        if isinstance(lt, WhileLoop):
            return self._while(ctx, cfg, lt, ref)
        if isinstance(lt, ForEachLoop):
            items = _collection(ctx, lt.collection_path)
            names: tuple[str | None, str | None] = (lt.item_variable, lt.index_variable)
            kind = "foreach"
        else:
            items = list(range(_count(ctx, lt)))
            names = (None, lt.index_variable)
            kind = "repeat"
        if len(items) > cfg.max_iterations:
            raise NodeError(
                f"loop {ctx.node.label} would run {len(items)} iterations, more than "
                f"max_iterations ({cfg.max_iterations})"
            )
        bindings = [_bind(names, item, i) for i, item in enumerate(items)]
        if ref is None:
            assert lt.body_expression is not None
            results = [evaluate_body(ctx, lt.body_expression, b) for b in bindings]
            return {"loop_type": kind, "iterations": len(results), "results": results}
        parallel = isinstance(lt, ForEachLoop) and lt.parallel
        limit = (lt.max_concurrency if isinstance(lt, ForEachLoop) else None) if parallel else 1
        shared = dict(ctx.inputs)
        if isinstance(lt, ForEachLoop):
            # each iteration gets its item, not the whole collection (N copies of N items)
            shared.pop(lt.collection_path.strip(), None)
        children = [
            ChildSpec(ref, {**shared, **b}, f"iteration {i}") for i, b in enumerate(bindings)
        ]
        return Spawn(children, {"loop_type": kind}, max_concurrency=limit, until="all_ok")

    def resume(self, ctx: NodeContext, state: Any, results: list[ChildResult]) -> Any:
        failed = first_failure(results)
        if failed is not None:
            raise NodeError(
                f"loop {ctx.node.label}: {failed.label} failed: {failed.error}",
                retryable=True,  # a new attempt runs the iterations again
            )
        if state["loop_type"] != "while":
            outputs = [r.output for r in results]
            return {"loop_type": state["loop_type"], "iterations": len(outputs), "results": outputs}
        cfg: LoopConfig = ctx.config
        lt = cfg.loop_type
        assert isinstance(lt, WhileLoop)
        done = [*state["results"], results[0].output]
        return self._next_while(ctx, cfg, lt, state["ref"], done)

    # -- While --------------------------------------------------------------------------------
    def _while(self, ctx: NodeContext, cfg: LoopConfig, lt: WhileLoop, ref: str | None) -> Any:
        if ref is not None:
            return self._next_while(ctx, cfg, lt, ref, [])
        assert lt.body_expression is not None
        results: list[Any] = []
        while True:
            counter = len(results)
            bound = _while_locals(lt, counter, results)
            if not _holds(ctx, lt.condition, bound):
                break
            if counter >= cfg.max_iterations:
                raise _limit(ctx, cfg)
            results.append(evaluate_body(ctx, lt.body_expression, bound))
            if ctx.cancelled():
                raise NodeError("cancelled")
        return {"loop_type": "while", "iterations": len(results), "results": results}

    def _next_while(
        self, ctx: NodeContext, cfg: LoopConfig, lt: WhileLoop, ref: str, results: list[Any]
    ) -> Any:
        counter = len(results)
        bound = _while_locals(lt, counter, results)
        if not _holds(ctx, lt.condition, bound):
            return {"loop_type": "while", "iterations": counter, "results": results}
        if counter >= cfg.max_iterations:
            raise _limit(ctx, cfg)
        inputs = {**ctx.inputs, **{k: v for k, v in bound.items() if k != "results"}}
        child = ChildSpec(ref, inputs, f"iteration {counter}")
        return Spawn([child], {"loop_type": "while", "ref": ref, "results": results})


def _limit(ctx: NodeContext, cfg: LoopConfig) -> NodeError:
    return NodeError(
        f"loop {ctx.node.label} reached max_iterations ({cfg.max_iterations}) "
        "and its condition still holds"
    )


def _while_locals(lt: WhileLoop, counter: int, results: list[Any]) -> dict[str, Any]:
    bound: dict[str, Any] = {"iteration": counter, "results": results}
    bound["last"] = results[-1] if results else None
    if lt.counter_variable:
        bound[lt.counter_variable] = counter
    return bound


def _holds(ctx: NodeContext, condition: str, bound: dict[str, Any]) -> bool:
    from oxify.engine.conditions import evaluate_condition

    return evaluate_condition(condition, ctx.scope.with_locals(bound))


def _bind(names: tuple[str | None, str | None], item: Any, index: int) -> dict[str, Any]:
    item_name, index_name = names
    bound: dict[str, Any] = {}
    if item_name:
        bound[item_name] = item
    if index_name:
        bound[index_name] = index
    return bound


def _collection(ctx: NodeContext, path: str) -> list[Any]:
    text = path.strip()
    value = ctx.render(text) if "{{" in text else ctx.scope.resolve(text)
    if not isinstance(value, list):
        raise NodeError(
            f"loop {ctx.node.label}: collection_path '{path}' is a {_type(value)}, not a list"
        )
    return value


def _count(ctx: NodeContext, lt: RepeatLoop) -> int:
    raw: Any = lt.count
    if isinstance(raw, str):
        raw = ctx.render(raw)
        if isinstance(raw, str):
            try:
                raw = int(raw.strip())
            except ValueError:
                raise NodeError(
                    f"loop {ctx.node.label}: count '{lt.count}' is not a whole number"
                ) from None
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
        raise NodeError(f"loop {ctx.node.label}: count must be a whole number >= 0, got {raw!r}")
    return raw


def _type(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "object", str: "string", bool: "boolean", int: "number", float: "number"}.get(
        type(value), type(value).__name__
    )
