"""What travels between the orchestrator, the workers and the broker: node tasks, queue
routing, Celery task ids, and events as stores keep them. Messages carry ids only."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol

from oxify.model.workflow import Workflow
from oxify.nodes.registry import POOLS

ORCHESTRATOR_QUEUE = "oxify.orchestrator"


def queue_for(workflow: Workflow, node_id: str) -> str:
    """The Celery queue of a node: its own ``queue`` field, else its kind's pool."""
    node = workflow.nodes_by_id[node_id]
    own = (node.model_extra or {}).get("queue")
    if isinstance(own, str) and own:
        return own
    pool = POOLS.get(node.kind.type, "control")
    return f"oxify.{pool}"


@dataclass(frozen=True)
class NodeTask:
    """One node attempt to send to a worker pool (the message carries ids only)."""

    node_id: str
    attempt: int
    queue: str
    name: str
    kind: str
    delay: float = 0.0
    notify: bool = True
    """Whether the worker drives the execution on after reporting (not for chord members,
    whose chord callback does it)."""


class Dispatcher(Protocol):
    """Sends work to the worker pools (Celery in production)."""

    def send(
        self, execution_id: str, workflow_hash: str, tasks: list[NodeTask], level: int | None
    ) -> None:
        """Send node attempts; with ``level``, as one chord whose callback drives the
        execution when they are all done."""
        ...

    def start(self, execution_id: str, delay: float = 0.0) -> None:
        """Ask an orchestrator to drive an execution (a new one, or one with news), after
        ``delay`` seconds."""
        ...

    def revoke(self, execution_id: str, attempts: list[tuple[str, int]]) -> None:
        """Withdraw queued attempts (best effort: workers also check before starting)."""
        ...


def task_id(execution_id: str, node_id: str, attempt: int) -> str:
    """The Celery task id of a node attempt (deterministic, so it can be revoked)."""
    return f"{execution_id}:{node_id}:{attempt}"


@dataclass(frozen=True)
class OutputRef:
    """A large output already stored by hash; the record keeps the reference."""

    digest: str


def event_dict(type_: str, eid: str, workflow_id: str, data: dict[str, Any]) -> dict[str, Any]:
    """An event as stores keep it (``seq`` is added by the store)."""
    return {
        "type": type_,
        "execution_id": eid,
        "workflow_id": workflow_id,
        "timestamp": time.time(),
        "data": data,
    }
