"""The Parallel node: run tasks together under a strategy.

A task is an OxiFY ``expression`` (rendered at once) or, as an oxify extension, a ``body``
(inline workflow or path) run as a child execution; at most ``max_concurrency`` run at a
time. ``timeout_ms`` is honoured: when it passes, running tasks are cancelled and reported
``timeout``.

- ``WaitAll``: every task must succeed; the first failure cancels the rest and fails the node.
- ``Race``: the first task to succeed wins and the rest are cancelled; the node fails only
  if every task failed.
- ``AllSettled``: every task runs to its end; failures are reported, not raised.

Output: ``{strategy, results: {task id: {status, value | error}}}`` (``Race`` adds
``winner`` and reports the winner only).
"""

from __future__ import annotations

from typing import Any

from oxify.errors import NodeError
from oxify.model.definition import body_ref
from oxify.model.kinds import ParallelConfig
from oxify.nodes.base import NodeContext
from oxify.nodes.composite import ChildResult, ChildSpec, Spawn, Until
from oxify.nodes.expressions import evaluate_body

_UNTIL: dict[str, Until] = {"WaitAll": "all_ok", "Race": "first_ok", "AllSettled": "all"}
_STATUS = {"completed": "success", "failed": "error", "timed_out": "timeout"}


class ParallelExecutor:
    """Composite executor of ``Parallel`` nodes."""

    def begin(self, ctx: NodeContext) -> Any:
        cfg: ParallelConfig = ctx.config
        settled: dict[str, dict[str, Any]] = {}
        children: list[ChildSpec] = []
        for i, task in enumerate(cfg.tasks):
            ref = body_ref(ctx.node, f"tasks.{i}.body")
            if ref is not None:
                children.append(ChildSpec(ref, dict(ctx.inputs), task.id))
                continue
            if task.expression is None:
                raise NodeError(f"parallel task '{task.id}' has no expression and no body")
            try:
                value = evaluate_body(ctx, task.expression)
                settled[task.id] = {"status": "success", "value": value}
            except Exception as e:
                settled[task.id] = {"status": "error", "error": str(e)}
        if not children or _decided(cfg, settled):
            return _output(ctx, cfg, settled, [t.id for t in cfg.tasks])
        timeout = None if cfg.timeout_ms is None else cfg.timeout_ms / 1000.0
        return Spawn(
            children,
            {"settled": settled},
            max_concurrency=cfg.max_concurrency,
            until=_UNTIL[cfg.strategy],
            timeout=timeout,
        )

    def resume(self, ctx: NodeContext, state: Any, results: list[ChildResult]) -> Any:
        cfg: ParallelConfig = ctx.config
        settled: dict[str, dict[str, Any]] = dict(state["settled"])
        for r in results:
            status = _STATUS.get(r.state, r.state)
            if r.ok:
                settled[r.label] = {"status": status, "value": r.output}
            else:
                error = r.error or status
                if r.state == "timed_out" and cfg.timeout_ms is not None:
                    error = f"timed out after {cfg.timeout_ms} ms"
                settled[r.label] = {"status": status, "error": error}
        return _output(ctx, cfg, settled, [t.id for t in cfg.tasks], retryable=True)


def _decided(cfg: ParallelConfig, settled: dict[str, dict[str, Any]]) -> bool:
    """Whether the expression tasks already decide the outcome (a Race won, a WaitAll lost)."""
    statuses = [s["status"] for s in settled.values()]
    if cfg.strategy == "Race":
        return "success" in statuses
    if cfg.strategy == "WaitAll":
        return "error" in statuses
    return False


def _output(
    ctx: NodeContext,
    cfg: ParallelConfig,
    settled: dict[str, dict[str, Any]],
    order: list[str],
    retryable: bool = False,
) -> Any:
    """The node's output; failures of body tasks are ``retryable`` (a new attempt runs
    them again), failures of expressions are not."""
    ordered = {tid: settled[tid] for tid in order if tid in settled}
    if cfg.strategy == "WaitAll":
        # the task that failed, rather than the ones cancelled because it failed
        bad = [t for t, e in ordered.items() if e["status"] in ("error", "timeout")] or [
            t for t, e in ordered.items() if e["status"] != "success"
        ]
        if bad:
            entry = ordered[bad[0]]
            raise NodeError(
                f"parallel {ctx.node.label}: task '{bad[0]}' {entry['status']}: "
                f"{entry.get('error')}",
                retryable=retryable,
            )
    if cfg.strategy == "Race":
        winner = next((t for t, e in ordered.items() if e["status"] == "success"), None)
        if winner is None:
            errors = "; ".join(f"{t}: {e.get('error')}" for t, e in ordered.items())
            raise NodeError(
                f"parallel {ctx.node.label}: no task succeeded ({errors})", retryable=retryable
            )
        return {"strategy": cfg.strategy, "winner": winner, "results": {winner: ordered[winner]}}
    return {"strategy": cfg.strategy, "results": ordered}
