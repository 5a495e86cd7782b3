"""The :class:`~oxify.nodes.base.NodeContext` of a node attempt, over a store: upstream
outputs are read from the store when a template or the executor first reads them (once
each, large ones by reference); outputs decided in the current step and not stored yet
come from ``overlay``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from oxify.engine.scope import Scope
from oxify.nodes.attempt import VisibleOutputs
from oxify.nodes.base import NodeContext
from oxify.runtime.definitions import Prepared
from oxify.store.base import OutputRef, StateStore


def node_context(
    store: StateStore,
    execution_id: str,
    prepared: Prepared,
    node_id: str,
    attempt: int,
    inputs: Mapping[str, Any],
    *,
    deadline: float | None = None,
    overlay: Mapping[str, Any] | None = None,
    depth: int = 0,
) -> NodeContext:
    """The context of attempt ``attempt`` of ``node_id`` (``deadline``: ``time.monotonic()``
    when it times out)."""
    fetched: dict[str, Any] = dict(overlay or {})
    missing: set[str] = set()

    def get(n: str) -> Any:
        if n in fetched:
            value = fetched[n]
            if isinstance(value, OutputRef):
                value = fetched[n] = store.output(execution_id, n)
            return value
        if n in missing:
            raise KeyError(n)
        try:
            fetched[n] = store.output(execution_id, n)
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

    workflow, plan = prepared.definition.workflow, prepared.plan
    node = workflow.nodes_by_id[node_id]

    def scope() -> Scope:
        visible = VisibleOutputs(plan.ancestors(node_id), get, succeeded)
        return Scope(inputs, visible, prepared.names, node=node.name)

    return NodeContext(
        execution_id=execution_id,
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
