"""The in-process state store: the Redis store's contract, in memory.

Embedded mode runs on it (and the contract tests hold it to the same rules as the Redis
store). Everything lives in one :class:`MemoryStore` guarded by one lock, so every method
is atomic as a Lua script is. Values are kept as Python objects, not JSON: a snapshot's
record copies a node the first time a step reads it (so a step costs what it touches and
never changes what the store holds), outputs and events are immutable by convention (every
reader gets copies of outputs), and the workflow definition is kept as the object given.
Time is ``time.time()``: leases, drive locks and retention are measured on it.

Checkpoints go to a :class:`~oxify.store.checkpoints.CheckpointStore` (in memory by default,
on disk with :class:`~oxify.store.checkpoints.FileCheckpointStore`), with what is needed to
bring a top-level execution back into a new process (:meth:`MemoryStore.restore`).

Event cursors are zero-padded counters (``"0000000001-0"``, ``"0000000002-0"``, …) that order
as strings and as Redis stream ids do; ``"$"`` means "events appended after this call".
"""

from __future__ import annotations

import heapq
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from oxify.engine.state import ExecutionRecord, ExecutionState, NodeRecord, NodeTable
from oxify.errors import ExecutionError
from oxify.events import Event
from oxify.model.definition import Definition
from oxify.model.io import parse_workflow, workflow_to_data
from oxify.store.base import (
    CheckpointRequest,
    ChildOutcome,
    Claim,
    ClaimResult,
    Commit,
    Dispatched,
    ExecutionSummary,
    NewEvent,
    NewExecution,
    Outcome,
    OutputRef,
    Snapshot,
    StateStore,
)
from oxify.store.checkpoints import (
    Checkpoint,
    CheckpointStore,
    MemoryCheckpointStore,
    SavedExecution,
)

_TERMINAL = frozenset({"completed", "failed", "cancelled"})
_LIVE = frozenset({ExecutionState.RUNNING, ExecutionState.PAUSED})


def _cursor(number: int) -> str:
    return f"{number:010d}-0"


def _parse_cursor(cursor: str) -> int:
    head, _, tail = cursor.partition("-")
    try:
        int(tail or 0)
        return int(head)
    except ValueError:
        raise ValueError(f"invalid event cursor {cursor!r}") from None


def _ms(seconds: float) -> float:
    """A duration rounded as the Redis store sends it (whole milliseconds, at least one)."""
    return max(1, int(seconds * 1000)) / 1000


@dataclass
class _Execution:
    """Every key of one execution (the Redis store's ``meta``, ``record``, … keys)."""

    version: int
    record: ExecutionRecord
    definition: Definition
    created_at: float
    deadline: float | None
    name: str
    cancel: str | None = None
    pause: str | None = None
    idem: str | None = None
    """The idempotency key it was created with (it goes when the execution expires)."""
    children: set[str] = field(default_factory=set)
    child_outcomes: dict[str, ChildOutcome] = field(default_factory=dict)
    attempts: dict[str, Dispatched] = field(default_factory=dict)
    settled: dict[str, int] = field(default_factory=dict)
    """Node → attempt already applied by a driver (never run again)."""
    claims: dict[str, Claim] = field(default_factory=dict)
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    """The event at index ``i`` has ``seq`` ``i`` and cursor ``_cursor(i + 1)``."""
    expires_at: float | None = None
    finished_at: float | None = None

    @property
    def state(self) -> str:
        return self.record.state.value


class MemoryStore:
    """:class:`~oxify.store.base.StateStore` in this process.

    ``checkpoints`` keeps checkpoints (and, for top-level executions, what resuming them in
    another process needs); ``keep_finished`` bounds how many finished executions stay
    (the oldest go first; ``None``: only their retention ``ttl`` removes them).
    """

    def __init__(
        self, checkpoints: CheckpointStore | None = None, *, keep_finished: int | None = None
    ) -> None:
        self.checkpoint_store: CheckpointStore = checkpoints or MemoryCheckpointStore()
        self.keep_finished = keep_finished
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._executions: dict[str, _Execution] = {}
        self._created: dict[str, float] = {}
        """The ``oxify:executions`` index: execution id → creation time."""
        self._active: dict[str, float] = {}
        """The ``oxify:active`` index: non-terminal execution id → last progress."""
        self._finished: OrderedDict[str, None] = OrderedDict()
        self._expiries: list[tuple[float, str]] = []
        """A heap of (expiry, execution id): expired executions are dropped without a read."""
        self._idem: dict[str, str] = {}
        self._drive: dict[str, tuple[str, float]] = {}
        """Drive locks: execution id → (token, expiry)."""
        self._dirty: dict[str, float] = {}
        """Dirty marks: execution id → expiry."""
        self._readers = 0
        """Threads blocked in :meth:`events` (only then is a wake-up needed)."""
        self._documents: OrderedDict[str, tuple[Any, Any]] = OrderedDict()
        """Definition hash → its plain data (workflow, library), for the checkpoint store."""

    def now(self) -> float:
        return time.time()

    # -- plumbing ---------------------------------------------------------------------------
    def _get(self, execution_id: str) -> _Execution | None:
        """The execution, or None when unknown or expired (an expired one is dropped)."""
        ex = self._executions.get(execution_id)
        if ex is None:
            return None
        if ex.expires_at is not None and ex.expires_at <= time.time():
            self._drop(execution_id, ex)
            return None
        return ex

    def _drop(self, execution_id: str, ex: _Execution) -> None:
        del self._executions[execution_id]
        self._created.pop(execution_id, None)
        self._active.pop(execution_id, None)
        self._finished.pop(execution_id, None)
        self._drive.pop(execution_id, None)
        self._dirty.pop(execution_id, None)
        if ex.idem is not None and self._idem.get(ex.idem) == execution_id:
            del self._idem[ex.idem]  # the key goes with its execution

    def _sweep(self) -> None:
        """Drop the executions whose retention has passed."""
        now = time.time()
        while self._expiries and self._expiries[0][0] <= now:
            self._get(heapq.heappop(self._expiries)[1])

    def _append(self, execution_id: str, ex: _Execution, new: list[NewEvent]) -> list[Event]:
        """Number and append events; wake the blocked readers."""
        if not new:
            return []
        workflow_id = ex.record.workflow_id
        start = len(ex.events)
        added = [
            Event(e.type, execution_id, workflow_id, seq, e.timestamp, e.data, _cursor(seq + 1))
            for seq, e in enumerate(new, start)
        ]
        ex.events.extend(added)
        if self._readers:
            self._cond.notify_all()
        return added

    def _expected(self, execution_id: str) -> _Execution:
        ex = self._get(execution_id)
        if ex is None:
            raise ExecutionError(f"no execution with id {execution_id}")
        return ex

    # -- executions -------------------------------------------------------------------------
    def create(self, new: NewExecution, idempotency_key: str | None = None) -> tuple[str, bool]:
        eid = new.execution_id
        record = new.record
        owned = _owning(record, {n: record.nodes[n].copy() for n in record.nodes})
        with self._lock:
            self._sweep()
            if idempotency_key is not None:
                existing = self._idem.get(idempotency_key)
                if existing is not None and self._get(existing) is not None:
                    return existing, False
            if self._get(eid) is not None:
                raise ExecutionError(f"execution {eid} exists already")
            if idempotency_key is not None:
                self._idem[idempotency_key] = eid
            ex = _Execution(
                version=0,
                record=owned,
                definition=new.definition,
                created_at=float(new.created_at),
                deadline=None if new.deadline is None else float(new.deadline),
                name=new.definition.workflow.name,
                idem=idempotency_key,
            )
            for node_id, value in new.outputs.items():
                ex.outputs[node_id] = value
            self._executions[eid] = ex
            self._append(eid, ex, new.events)
            self._created[eid] = ex.created_at
            self._active[eid] = ex.created_at
        if record.parent is None:
            self.checkpoint_store.save_execution(_saved(ex, self._documents))
        return eid, True

    def exists(self, execution_id: str) -> bool:
        with self._lock:
            return self._get(execution_id) is not None

    def definition(self, execution_id: str) -> Definition:
        with self._lock:
            return self._expected(execution_id).definition

    def load(self, execution_id: str) -> Snapshot:
        with self._lock:
            ex = self._expected(execution_id)
            return Snapshot(
                version=ex.version,
                record=ex.record.snapshot(),
                workflow_hash=ex.record.workflow_hash,
                created_at=ex.created_at,
                deadline=ex.deadline,
                cancel=ex.cancel,
                now=time.time(),
                outcomes=list(ex.outcomes.values()),
                pause=ex.pause,
                children=list(ex.child_outcomes.values()),
            )

    def commit(
        self, execution_id: str, version: int, commit: Commit, ttl: float | None
    ) -> list[Event] | None:
        """As :meth:`StateStore.commit`; ``ttl`` may be fractional here (Redis: seconds)."""
        saved: SavedExecution | None = None
        with self._lock:
            ex = self._get(execution_id)
            if ex is None:
                return None
            if ex.version != version:
                if not commit.terminal and execution_id in self._active:
                    self._active[execution_id] = time.time()  # somebody else made progress
                return None
            ex.version += 1
            ex.record.absorb(commit.record)
            if commit.reset:
                # a restart's record holds every node: the nodes it lacks are gone (a
                # changed definition dropped them), as the Redis store replaces the record
                nodes = ex.record.nodes.touched
                for node_id in [n for n in nodes if n not in commit.record.nodes]:
                    del nodes[node_id]
                ex.outputs.clear()
                ex.outcomes.clear()
                ex.attempts.clear()
                ex.settled.clear()
                ex.claims.clear()
                ex.cancel = ex.pause = None
                ex.expires_at = ex.finished_at = None
                self._finished.pop(execution_id, None)
                ex.deadline = commit.deadline
            if commit.definition is not None:
                ex.definition = commit.definition
                saved = _saved(ex, self._documents) if ex.record.parent is None else None
            for node_id, value in commit.outputs.items():
                ex.outputs[node_id] = ex.outputs[node_id] if isinstance(value, OutputRef) else value
            for node_id, attempt in commit.consumed:
                current = ex.outcomes.get(node_id)
                if current is not None and current.attempt == attempt:
                    del ex.outcomes[node_id]
                sent = ex.attempts.get(node_id)
                if sent is not None and sent.attempt == attempt:
                    ex.settled[node_id] = attempt  # a late delivery must never run again
            for child in commit.consumed_children:
                ex.child_outcomes.pop(child, None)
            for node_id, d in commit.dispatched.items():
                ex.attempts[node_id] = d
                ex.settled.pop(node_id, None)
            events = self._append(execution_id, ex, commit.events)
            if commit.checkpoint is not None:
                events += self._checkpoint(execution_id, ex, commit.checkpoint)
            if commit.terminal:
                self._finish(execution_id, ex, ttl)
            else:
                self._active[execution_id] = time.time()
        if saved is not None:
            self.checkpoint_store.save_execution(saved)
        return events

    def _finish(self, execution_id: str, ex: _Execution, ttl: float | None) -> None:
        self._active.pop(execution_id, None)
        ex.finished_at = time.time()
        if ttl:
            ex.expires_at = time.time() + ttl
            heapq.heappush(self._expiries, (ex.expires_at, execution_id))
        self._finished[execution_id] = None
        if self.keep_finished is not None:
            while len(self._finished) > self.keep_finished:
                old, _ = self._finished.popitem(last=False)
                gone = self._executions.get(old)
                if gone is not None:
                    self._drop(old, gone)

    def _checkpoint(self, execution_id: str, ex: _Execution, cp: CheckpointRequest) -> list[Event]:
        saved = self.checkpoint_store.save(
            execution_id,
            cp.reason,
            cp.created_at,
            cp.workflow_hash,
            ex.record.to_dict(),
            dict(ex.outputs),
            cp.keep,
        )
        if not cp.announce:
            return []
        return self._append(execution_id, ex, [cp.event(saved.id, ex.record)])

    def checkpoints(self, execution_id: str) -> list[Checkpoint]:
        return self.checkpoint_store.list(execution_id)

    def checkpoint_outputs(self, execution_id: str, checkpoint: Checkpoint) -> dict[str, Any]:
        return self.checkpoint_store.outputs(checkpoint)

    def restore(self, execution_id: str) -> None:
        """Bring back a top-level execution this process does not know from the
        checkpoint store (another process ran it): at its newest checkpoint, ended — one
        whose process died while it ran ends ``failed`` (interrupted). Nothing if it is
        known; :class:`ExecutionError` if the checkpoint store has no checkpoint of it."""
        with self._lock:
            if self._get(execution_id) is not None:
                return
        saved = self.checkpoint_store.execution(execution_id)
        checkpoints = self.checkpoint_store.list(execution_id)
        if not checkpoints:
            raise ExecutionError(f"execution {execution_id} has no checkpoints")
        newest = checkpoints[-1]
        loaded = ExecutionRecord.from_dict(newest.record, saved.inputs)
        record = _owning(loaded, {n: loaded.nodes[n] for n in loaded.nodes})
        if not record.state.terminal:
            record.state = ExecutionState.FAILED
            record.error = "interrupted: the process running it ended"
        definition = Definition.from_data(parse_workflow(saved.workflow), saved.library)
        ex = _Execution(
            version=0,
            record=record,
            definition=Definition(definition.workflow, definition.library, saved.source),
            created_at=record.started_at or time.time(),
            deadline=None,
            name=definition.workflow.name,
            outputs=self.checkpoint_store.outputs(newest),
        )
        with self._lock:
            if self._get(execution_id) is None:
                self._executions[execution_id] = ex
                self._created[execution_id] = ex.created_at
                self._finish(execution_id, ex, None)

    def child_finished(self, execution_id: str, outcome: ChildOutcome) -> bool:
        with self._lock:
            ex = self._get(execution_id)
            if ex is None or ex.state in _TERMINAL or outcome.child in ex.children:
                return False
            ex.children.add(outcome.child)
            ex.child_outcomes[outcome.child] = outcome
            if execution_id in self._active:
                self._active[execution_id] = time.time()
            return True

    # -- node attempts ----------------------------------------------------------------------
    def claim(
        self,
        execution_id: str,
        node_id: str,
        attempt: int,
        worker: str,
        lease: float,
        event: NewEvent,
        workflow_id: str,
    ) -> ClaimResult:
        with self._lock:
            ex = self._get(execution_id)
            if ex is None or ex.record.state is not ExecutionState.RUNNING or ex.cancel is not None:
                return ClaimResult("stale")
            d = ex.attempts.get(node_id)
            if d is None or d.attempt != attempt or ex.settled.get(node_id) == attempt:
                return ClaimResult("stale")
            reported = ex.outcomes.get(node_id)
            if reported is not None and reported.attempt == attempt:
                return ClaimResult("stale")
            now = time.time()
            held = ex.claims.get(node_id)
            if (
                held is not None
                and held.attempt == attempt
                and held.worker != worker
                and held.lease_until > now
            ):
                return ClaimResult("busy")
            ex.claims[node_id] = Claim(attempt, worker, round(now + lease, 6))
            (started,) = self._append(execution_id, ex, [event])
            return ClaimResult("ok", ex.record.inputs, ex.record.config.node_timeout, started)

    def renew(
        self, execution_id: str, node_id: str, attempt: int, worker: str, lease: float
    ) -> bool:
        with self._lock:
            ex = self._get(execution_id)
            if ex is None or ex.record.state not in _LIVE or ex.cancel is not None:
                return False
            sent = ex.attempts.get(node_id)
            if sent is None or sent.attempt != attempt or ex.settled.get(node_id) == attempt:
                return False
            held = ex.claims.get(node_id)
            if held is None or held.attempt != attempt or held.worker != worker:
                return False
            ex.claims[node_id] = Claim(attempt, worker, round(time.time() + lease, 6))
            return True

    def report(self, execution_id: str, outcome: Outcome, worker: str) -> bool:
        with self._lock:
            try:
                return self._report(execution_id, outcome, worker)
            finally:
                if execution_id in self._active:  # as Redis' ZADD XX: accepted or not
                    self._active[execution_id] = time.time()

    def _report(self, execution_id: str, outcome: Outcome, worker: str) -> bool:
        ex = self._get(execution_id)
        if ex is None or ex.record.state not in _LIVE:
            return False
        node_id, attempt = outcome.node_id, outcome.attempt
        d = ex.attempts.get(node_id)
        if d is None or d.attempt != attempt or ex.settled.get(node_id) == attempt:
            return False
        reported = ex.outcomes.get(node_id)
        if reported is not None and reported.attempt == attempt:
            return False
        held = ex.claims.get(node_id)
        if held is None or held.attempt != attempt or held.worker != worker:
            return False
        ex.outcomes[node_id] = outcome
        del ex.claims[node_id]
        return True

    def status(self, execution_id: str) -> tuple[str | None, str | None]:
        with self._lock:
            ex = self._get(execution_id)
            return (None, None) if ex is None else (ex.state, ex.cancel)

    def outcomes(self, execution_id: str) -> list[Outcome]:
        with self._lock:
            ex = self._get(execution_id)
            return [] if ex is None else list(ex.outcomes.values())

    def claims(self, execution_id: str) -> dict[str, Claim]:
        with self._lock:
            ex = self._get(execution_id)
            return {} if ex is None else dict(ex.claims)

    def dispatched(self, execution_id: str) -> dict[str, Dispatched]:
        with self._lock:
            ex = self._get(execution_id)
            if ex is None:
                return {}
            return {n: d for n, d in ex.attempts.items() if ex.settled.get(n) != d.attempt}

    def output(self, execution_id: str, node_id: str) -> Any:
        with self._lock:
            ex = self._get(execution_id)
            if ex is None or node_id not in ex.outputs:
                raise KeyError(node_id)
            return ex.outputs[node_id]

    def outputs(self, execution_id: str) -> dict[str, Any]:
        with self._lock:
            ex = self._get(execution_id)
            return {} if ex is None else dict(ex.outputs)

    # -- events, flags, drive, listing ------------------------------------------------------
    def events(
        self,
        execution_id: str,
        after: str | None = None,
        block: float | None = None,
        count: int = 1000,
    ) -> list[Event]:
        """As Redis' XRANGE (no ``block``) or XREAD (``block``): ``"$"`` means the events
        appended after this call (without ``block`` there are none yet)."""
        with self._lock:
            if after == "$":
                ex = self._get(execution_id)
                start = len(ex.events) if ex is not None else 0
                if block is None:
                    return []
            else:
                start = 0 if after is None else _parse_cursor(after)
            deadline = None if block is None else time.monotonic() + _ms(block)
            while True:
                ex = self._get(execution_id)
                found = ex.events[start : start + max(count, 0)] if ex is not None else []
                if found or deadline is None:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    return []
                self._readers += 1
                try:
                    self._cond.wait(left)
                finally:
                    self._readers -= 1

    def _flag(self, execution_id: str, name: str, reason: str) -> bool:
        with self._lock:
            ex = self._expected(execution_id)
            if getattr(ex, name) is not None:
                return False
            setattr(ex, name, reason)
            return True

    def request_pause(self, execution_id: str, reason: str) -> bool:
        return self._flag(execution_id, "pause", reason)

    def request_cancel(self, execution_id: str, reason: str) -> bool:
        return self._flag(execution_id, "cancel", reason)

    def clear_pause(self, execution_id: str) -> bool:
        with self._lock:
            ex = self._get(execution_id)
            if ex is None or ex.pause is None:
                return False
            ex.pause = None
            return True

    def _lock_holder(self, execution_id: str) -> str | None:
        held = self._drive.get(execution_id)
        if held is None or held[1] <= time.time():
            self._drive.pop(execution_id, None)
            return None
        return held[0]

    def _take_dirty(self, execution_id: str) -> bool:
        """Clear the dirty mark; whether there was a live one."""
        expiry = self._dirty.pop(execution_id, None)
        return expiry is not None and expiry > time.time()

    def begin_drive(self, execution_id: str, token: str, ttl: float) -> bool:
        with self._lock:
            if self._lock_holder(execution_id) is None:
                self._drive[execution_id] = (token, time.time() + _ms(ttl))
                self._dirty.pop(execution_id, None)
                return True
            self._dirty[execution_id] = time.time() + _ms(ttl)
            return False

    def finish_drive(self, execution_id: str, token: str, ttl: float) -> bool:
        with self._lock:
            if self._lock_holder(execution_id) != token:
                return True
            if self._take_dirty(execution_id):
                self._drive[execution_id] = (token, time.time() + _ms(ttl))
                return False
            del self._drive[execution_id]
            return True

    def abort_drive(self, execution_id: str, token: str) -> None:
        with self._lock:
            if self._lock_holder(execution_id) == token:
                del self._drive[execution_id]

    def recent(
        self, state: str | None = None, limit: int = 100, include_children: bool = True
    ) -> list[ExecutionSummary]:
        with self._lock:
            order = sorted(self._created.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)
            out: list[ExecutionSummary] = []
            for eid, _ in order:
                if len(out) >= limit:
                    break
                ex = self._get(eid)
                if ex is None or (state is not None and ex.state != state):
                    continue
                parent = ex.record.parent
                if parent is not None and not include_children:
                    continue
                out.append(
                    ExecutionSummary(
                        eid,
                        ex.state,
                        ex.created_at,
                        ex.name,
                        parent.execution_id if parent is not None else None,
                    )
                )
            return out

    def stalled(self, older_than: float) -> list[str]:
        with self._lock:
            order = sorted(self._active.items(), key=lambda kv: (kv[1], kv[0]))
            return [eid for eid, t in order if t <= older_than and self._get(eid) is not None]

    def forget_stalled(self, execution_id: str) -> None:
        with self._lock:
            self._active.pop(execution_id, None)


def _owning(record: ExecutionRecord, nodes: dict[str, NodeRecord]) -> ExecutionRecord:
    """``record`` holding ``nodes`` itself (as the store keeps a record)."""
    return replace(record, nodes=NodeTable.of(nodes))


def _saved(ex: _Execution, documents: OrderedDict[str, tuple[Any, Any]]) -> SavedExecution:
    """What the checkpoint store keeps of a top-level execution (the definition's plain
    data made once per definition: ``documents`` caches it by hash)."""
    definition = ex.definition
    docs = documents.get(definition.hash)
    if docs is None:
        docs = documents[definition.hash] = (
            workflow_to_data(definition.workflow),
            definition.library_data(),
        )
        while len(documents) > 100:
            documents.popitem(last=False)
    return SavedExecution(
        execution_id=ex.record.execution_id,
        workflow=docs[0],
        library=docs[1],
        workflow_hash=definition.hash,
        inputs=ex.record.inputs,
        config=ex.record.config.model_dump(),
        source=definition.source,
    )


if TYPE_CHECKING:  # mypy checks that the class really implements the protocol
    _conforms: StateStore = MemoryStore()
