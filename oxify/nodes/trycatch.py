"""The TryCatch node: ``try``, then ``catch`` on an error (with the error bound to
``error_variable``), then ``finally`` always. Each block is an OxiFY expression
(``try_expression``, ...) or a sub-workflow (``try_body``, ``catch_body``, ``finally_body``:
an inline workflow or a path) run as a child execution.

Output on success: ``{try_result, catch_result, finally_result, error_handled, error}``. The
node fails when the try failed and no catch handled it, when ``rethrow`` is set, or when the
finally block failed.
"""

from __future__ import annotations

from typing import Any

from oxify.errors import NodeError
from oxify.model.definition import body_ref
from oxify.model.kinds import TryCatchConfig
from oxify.nodes.base import NodeContext
from oxify.nodes.composite import ChildResult, ChildSpec, Spawn
from oxify.nodes.expressions import evaluate_body

_PHASES = ("try", "catch", "finally")


class TryCatchExecutor:
    """Composite executor of ``TryCatch`` nodes."""

    def begin(self, ctx: NodeContext) -> Any:
        cfg: TryCatchConfig = ctx.config
        if cfg.try_expression is None and body_ref(ctx.node, "try_body") is None:
            raise NodeError(f"try/catch {ctx.node.label} has no try_expression and no try_body")
        return self._run(ctx, "try", {})

    def resume(self, ctx: NodeContext, state: Any, results: list[ChildResult]) -> Any:
        phase = state["phase"]
        result = results[0]
        _record(state, phase, result.output, None if result.ok else result.error or "failed")
        return self._run(ctx, _after(ctx, phase, state), state)

    def _run(self, ctx: NodeContext, phase: str | None, state: dict[str, Any]) -> Any:
        cfg: TryCatchConfig = ctx.config
        while phase is not None:
            bound = {cfg.error_variable: state["error"]} if phase == "catch" else {}
            ref = body_ref(ctx.node, f"{phase}_body")
            if ref is not None:
                child = ChildSpec(ref, {**ctx.inputs, **bound}, phase)
                return Spawn([child], {**state, "phase": phase})
            expression = getattr(cfg, f"{phase}_expression")
            if expression is not None:
                try:
                    _record(state, phase, evaluate_body(ctx, expression, bound), None)
                except Exception as e:
                    _record(state, phase, None, str(e))
            phase = _after(ctx, phase, state)
        return _finish(ctx, cfg, state)


def _has(ctx: NodeContext, phase: str) -> bool:
    cfg: TryCatchConfig = ctx.config
    return (
        getattr(cfg, f"{phase}_expression") is not None
        or body_ref(ctx.node, f"{phase}_body") is not None
    )


def _after(ctx: NodeContext, phase: str, state: dict[str, Any]) -> str | None:
    if phase == "try" and state.get("error") is not None and _has(ctx, "catch"):
        return "catch"
    if phase in ("try", "catch") and _has(ctx, "finally"):
        return "finally"
    return None


def _record(state: dict[str, Any], phase: str, value: Any, error: str | None) -> None:
    if error is None:
        state[f"{phase}_result"] = value
    elif phase == "try":
        state["error"] = error
    else:
        state[f"{phase}_error"] = error


def _finish(ctx: NodeContext, cfg: TryCatchConfig, state: dict[str, Any]) -> Any:
    error = state.get("error")
    problems: list[str] = []
    if error is not None:
        if state.get("catch_error") is not None:
            problems.append(f"try failed: {error}; catch also failed: {state['catch_error']}")
        elif not _has(ctx, "catch"):
            problems.append(f"try failed: {error}")
        elif cfg.rethrow:
            problems.append(f"try failed (rethrown after catch): {error}")
    if state.get("finally_error") is not None:
        problems.append(f"finally failed: {state['finally_error']}")
    if problems:
        with_bodies = any(body_ref(ctx.node, f"{p}_body") is not None for p in _PHASES)
        raise NodeError(
            f"try/catch {ctx.node.label}: " + "; ".join(problems),
            retryable=with_bodies,  # a new attempt runs the sub-workflows again
        )
    return {
        "try_result": state.get("try_result"),
        "catch_result": state.get("catch_result"),
        "finally_result": state.get("finally_result"),
        "error_handled": error is not None,
        "error": error,
    }
