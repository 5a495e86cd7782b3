"""What a node executor receives and returns."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from oxify.engine.conditions import evaluate_condition
from oxify.engine.scope import Scope
from oxify.engine.templates import render, render_value
from oxify.model.workflow import Node, Workflow


@dataclass(frozen=True)
class Routed:
    """Returned by router executors (IfElse, Switch): the output and the successors to run."""

    output: Any
    routes: tuple[str, ...]


class CancelSignal:
    """Set when an attempt must stop (the execution was cancelled, the attempt timed out
    or was fenced off). ``wait(timeout)`` blocks until it is set or the timeout passes.

    The same methods as :class:`threading.Event`, cheaper to make: most attempts never
    wait on it, so the event behind ``wait`` is made only when somebody does."""

    __slots__ = ("_event", "_lock", "_set")

    def __init__(self) -> None:
        self._set = False
        self._event: threading.Event | None = None
        self._lock = threading.Lock()

    def set(self) -> None:
        with self._lock:
            self._set = True
            event = self._event
        if event is not None:
            event.set()

    def is_set(self) -> bool:
        return self._set

    def wait(self, timeout: float | None = None) -> bool:
        with self._lock:
            if self._set:
                return True
            if self._event is None:
                self._event = threading.Event()
            event = self._event
        return event.wait(timeout)


@dataclass
class NodeContext:
    """Everything one attempt of one node may use.

    ``scope`` resolves names in templates and conditions (workflow inputs and the outputs of
    upstream nodes); ``upstream`` maps the ids of direct predecessors that succeeded to their
    outputs. Long-running executors should check :meth:`cancelled` now and then: it turns
    true when the execution is cancelled or this attempt timed out.
    """

    execution_id: str
    workflow: Workflow
    node: Node
    attempt: int
    inputs: Mapping[str, Any]
    scope_factory: Callable[[], Scope]
    upstream: Mapping[str, Any]
    successors: tuple[str, ...] = ()
    deadline: float | None = None
    depth: int = 0
    """How deep this execution is nested (0: top level; a child is its parent's + 1)."""
    cancel_event: CancelSignal = field(default_factory=CancelSignal)
    _scope: Scope | None = field(default=None, init=False, repr=False)

    @property
    def config(self) -> Any:
        """The node's kind config (``None`` for Start)."""
        return getattr(self.node.kind, "config", None)

    @property
    def scope(self) -> Scope:
        if self._scope is None:
            self._scope = self.scope_factory()
        return self._scope

    def render(self, template: str) -> Any:
        """Render a ``{{...}}`` template against this node's scope."""
        return render(template, self.scope)

    def render_value(self, value: Any) -> Any:
        """Render every string inside ``value`` (dicts and lists are walked)."""
        return render_value(value, self.scope)

    def evaluate(self, condition: str) -> bool:
        """Evaluate a condition expression against this node's scope."""
        return evaluate_condition(condition, self.scope)

    def cancelled(self) -> bool:
        """True once the execution was cancelled or this attempt ran out of time."""
        return self.cancel_event.is_set()

    def time_left(self) -> float | None:
        """Seconds before this attempt times out (``None`` without a time limit)."""
        return None if self.deadline is None else max(0.0, self.deadline - time.monotonic())


class NodeExecutor(Protocol):
    """Runs one attempt of a node and returns its output (JSON-serializable), or a
    :class:`Routed` for routers. Raise :class:`~oxify.errors.NodeError` (with ``retryable``)
    to fail the attempt."""

    def __call__(self, ctx: NodeContext, /) -> Any: ...
