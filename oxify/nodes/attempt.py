"""One attempt of one node, as every runner sees it: an executor's result as a JSON-clean
output or a failure, time limits, and the outputs a node may read (copies)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping
from typing import Any

from oxify.engine.jsonvalues import clone, json_copy
from oxify.engine.machine import NodeFailure
from oxify.errors import NodeTimeoutError, OxifyError, is_retryable
from oxify.model.workflow import Workflow
from oxify.nodes.base import Routed


def failure_of(error: BaseException) -> NodeFailure:
    """How the machine sees an exception raised by an executor."""
    message = str(error) if isinstance(error, OxifyError) else f"{type(error).__name__}: {error}"
    return NodeFailure(message, is_retryable(error), isinstance(error, NodeTimeoutError))


def timeout_failure(workflow: Workflow, node_id: str, limit: float) -> NodeFailure:
    """The failure of an attempt that ran past its time limit."""
    node = workflow.nodes_by_id[node_id]
    return NodeFailure(f"node {node.label} timed out after {limit:g} s", True, True)


def node_timeout(workflow: Workflow, node_id: str, default: float | None) -> float | None:
    """Per-attempt limit in seconds: the node's ``timeout_config``, else ``default``."""
    tc = workflow.nodes_by_id[node_id].timeout_config
    return tc.execution_timeout_ms / 1000.0 if tc is not None else default


def settle(
    output: Any, error: BaseException | None
) -> tuple[Any, tuple[str, ...] | None, NodeFailure | None]:
    """``(output, routes, None)`` for a JSON-clean success, or ``(None, None, failure)``."""
    if error is not None:
        return None, None, failure_of(error)
    routes = None
    if isinstance(output, Routed):
        output, routes = output.output, output.routes
    try:
        return json_copy(output), routes, None
    except (TypeError, ValueError) as e:
        return None, None, NodeFailure(f"output is not JSON-serializable: {e}")


class VisibleOutputs(Mapping[str, Any]):
    """The outputs a node may read: those of ``ids`` that succeeded, fetched by ``get``
    (which raises ``KeyError`` for a node without output) and copied when read."""

    def __init__(
        self, ids: Collection[str], get: Callable[[str], Any], succeeded: Callable[[str], bool]
    ) -> None:
        self._ids = ids
        self._get = get
        self._succeeded = succeeded

    def __getitem__(self, node_id: str) -> Any:
        if node_id in self._ids and self._succeeded(node_id):
            return clone(self._get(node_id))
        raise KeyError(node_id)

    def __iter__(self) -> Iterator[str]:
        return (n for n in self._ids if self._succeeded(n))

    def __len__(self) -> int:
        return sum(1 for _ in self)
