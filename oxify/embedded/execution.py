"""A handle on one embedded execution: follow it, control it, wait for its result."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from oxify import events as ev
from oxify.engine.results import ExecutionResult
from oxify.engine.state import ExecutionRecord, ExecutionState, NodeState
from oxify.events import Event

if TYPE_CHECKING:
    from oxify.embedded.engine import Engine

_TERMINAL = frozenset({ev.WORKFLOW_COMPLETED, ev.WORKFLOW_FAILED, ev.WORKFLOW_CANCELLED})
_ALL = 1 << 40


class Execution:
    """One embedded execution. Obtain it from :meth:`Engine.start` (or ``resume``,
    ``replay``, ``get``)."""

    def __init__(self, engine: Engine, execution_id: str) -> None:
        self.id = execution_id
        self._engine = engine

    @property
    def state(self) -> ExecutionState:
        state, _ = self._engine.store.status(self.id)
        return ExecutionState(state) if state is not None else ExecutionState.PENDING

    @property
    def record(self) -> ExecutionRecord:
        """A copy of the execution's record as it stands (nodes a worker has claimed are
        shown running)."""
        store = self._engine.store
        record = store.load(self.id).record
        for node_id in store.claims(self.id):
            rec = record.nodes[node_id]
            if rec.state is NodeState.QUEUED:
                rec.state = NodeState.RUNNING
        return record

    def cancel(self, reason: str | None = None) -> None:
        """Stop: queued nodes never start, running ones are told (``ctx.cancelled()``),
        child executions are cancelled."""
        self._engine.runtime.producer.cancel(self.id, reason or "cancelled by request")

    def pause(self, reason: str = "requested") -> None:
        """No new node starts until :meth:`resume`; running nodes finish and are recorded."""
        self._engine.runtime.producer.pause(self.id, reason)

    def resume(self) -> None:
        """Let a paused execution go on."""
        self._engine.runtime.producer.unpause(self.id)

    def wait(self, timeout: float | None = None) -> ExecutionResult:
        """Block until the execution ends (and its events were delivered); ``TimeoutError``
        if it does not within ``timeout`` seconds."""
        if not self._engine.delivery.wait(self.id, timeout):
            raise TimeoutError(f"execution {self.id} still running after {timeout} s")
        return self._engine.runtime.producer.result(self.id)

    def done(self) -> bool:
        return self._engine.delivery.ended(self.id)

    def events(self, timeout: float | None = None) -> Iterator[Event]:
        """Every event of this execution, from the first, as they happen; ends with the
        execution (``TimeoutError`` if nothing new arrives for ``timeout`` seconds)."""
        store = self._engine.store
        cursor: str | None = None
        ended = False
        while True:
            block = 0.0 if ended else (timeout if timeout is not None else 1.0)
            batch = store.events(self.id, cursor, block=block or None, count=_ALL)
            if batch:
                yield from batch
                cursor = batch[-1].cursor
                ended = any(e.type in _TERMINAL for e in batch) and self.state.terminal
                continue
            if ended:
                return
            if self.state.terminal:
                ended = True  # one more read: what came in meanwhile
                continue
            if timeout is not None:
                raise TimeoutError(f"no event from execution {self.id} for {timeout} s")

    @property
    def event_log(self) -> list[Event]:
        """The events so far."""
        return self._engine.store.events(self.id, count=_ALL)
