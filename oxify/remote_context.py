"""The NodeContext of a node in distributed mode: upstream outputs are fetched from the
store when read (once each), large ones by reference; outputs decided in the current step
and not stored yet come from ``overlay``."""

from __future__ import annotations

from typing import Any

from oxify.dispatch import OutputRef
from oxify.engine.plan import Plan
from oxify.engine.scope import Scope
from oxify.model.workflow import Workflow
from oxify.nodes.attempt import VisibleOutputs
from oxify.nodes.base import NodeContext
from oxify.store.base import StateStore


def remote_context(
    store: StateStore,
    eid: str,
    workflow: Workflow,
    plan: Plan,
    names: dict[str, str],
    node_id: str,
    attempt: int,
    inputs: dict[str, Any],
    deadline: float | None,
    overlay: dict[str, Any] | None = None,
    depth: int = 0,
) -> NodeContext:
    fetched: dict[str, Any] = dict(overlay or {})
    missing: set[str] = set()

    def get(n: str) -> Any:
        if n in fetched:
            value = fetched[n]
            if isinstance(value, OutputRef):
                value = fetched[n] = store.output(eid, n)
            return value
        if n in missing:
            raise KeyError(n)
        try:
            fetched[n] = store.output(eid, n)
        except KeyError:
            missing.add(n)
            raise
        return fetched[n]

    def succeeded(n: str) -> bool:
        try:
            get(n)
        except KeyError:
            return False
        return True

    node = workflow.nodes_by_id[node_id]

    def scope() -> Scope:
        return Scope(
            inputs,
            VisibleOutputs(plan.ancestors(node_id), get, succeeded),
            names,
            node=node.name,
        )

    return NodeContext(
        execution_id=eid,
        workflow=workflow,
        node=node,
        attempt=attempt,
        inputs=inputs,
        scope_factory=scope,
        upstream=VisibleOutputs(plan.preds[node_id], get, succeeded),
        successors=plan.succs[node_id],
        deadline=deadline,
        depth=depth,
    )
