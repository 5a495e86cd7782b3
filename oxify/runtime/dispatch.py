"""What the driver hands to a body: node tasks to send, executions to drive, and events
to publish. Messages carry ids only; everything else is in the store."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from oxify.events import Event
from oxify.runtime.hooks import Hooks

log = logging.getLogger("oxify")

ORCHESTRATOR_QUEUE = "oxify.orchestrator"


@dataclass(frozen=True, slots=True)
class NodeTask:
    """One node attempt to run on a worker pool (the message carries ids only)."""

    execution_id: str
    node_id: str
    attempt: int
    workflow_hash: str
    queue: str
    name: str
    kind: str
    delay: float = 0.0
    notify: bool = True
    """Whether the worker drives the execution on after reporting (not for chord members,
    whose chord callback does it)."""

    @property
    def task_id(self) -> str:
        """The message's id: one per attempt (attempt numbers never repeat), so it can be
        revoked, and a re-sent attempt is recognised as the same one."""
        return task_id(self.execution_id, self.node_id, self.attempt)


def task_id(execution_id: str, node_id: str, attempt: int) -> str:
    """The task id of a node attempt."""
    return f"{execution_id}:{node_id}:{attempt}"


class Dispatcher(Protocol):
    """Sends work to the worker pools (Celery in distributed mode, threads embedded)."""

    def send(self, tasks: Sequence[NodeTask], level: int | None) -> None:
        """Send node attempts (of one execution); with ``level``, as one group whose end
        drives the execution (a chord) when they are all done."""
        ...

    def start(self, execution_id: str, delay: float = 0.0) -> None:
        """Have the execution driven (a new one, or one with news), after ``delay`` s."""
        ...

    def revoke(self, execution_id: str, attempts: Sequence[tuple[str, int]]) -> None:
        """Withdraw queued attempts and tell running ones to stop (best effort: workers
        also check before starting and while running)."""
        ...


class EventSink(Protocol):
    """Where a process publishes the events it wrote (after the write succeeded)."""

    def published(self, execution_id: str, events: Sequence[Event]) -> None: ...


class HookSink:
    """Publishes events to a process's hooks, in the order it wrote them (distributed
    mode: each process's hooks see the events that process wrote)."""

    def __init__(self, hooks: Hooks) -> None:
        self.hooks = hooks

    def published(self, execution_id: str, events: Sequence[Event]) -> None:
        for event in events:
            try:
                self.hooks.on_event(event)
            except Exception:
                log.exception("on_event hook failed for %s", event.type)
