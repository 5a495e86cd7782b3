"""The in-process state store: the Redis store's semantics, without Redis.

Everything lives in one :class:`MemoryStore` object guarded by one lock, so every method is
atomic as a Lua script is. Values are kept as JSON text exactly as Redis keeps them (records,
inputs, outcomes, outputs, events), so callers never share mutable state with the store and
JSON round trips (tuples become lists, keys become strings) behave alike. Time is
``time.time()``: leases, drive locks and retention are measured on it.

Event cursors are zero-padded counters (``"0000000001-0"``, ``"0000000002-0"``, …) that order
as strings and as Redis stream ids do; ``"$"`` means "events appended after this call".
"""

from __future__ import annotations

import heapq
import json
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from oxify.checkpoints import Checkpoint
from oxify.errors import ExecutionError
from oxify.store.base import (
    CHILD_PREFIX,
    CheckpointRequest,
    Claim,
    ClaimResult,
    Commit,
    Dispatched,
    NewExecution,
    Outcome,
    Snapshot,
    StateStore,
    StoredEvent,
    encode_output,
    spill_output,
)


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _cursor(number: int) -> str:
    return f"{number:010d}-0"


def _parse_cursor(cursor: str) -> tuple[int, int]:
    head, _, tail = cursor.partition("-")
    try:
        return int(head), int(tail or 0)
    except ValueError:
        raise ValueError(f"invalid event cursor {cursor!r}") from None


def _ms(seconds: float) -> float:
    """A duration rounded as the Redis store sends it (whole milliseconds, at least one)."""
    return max(1, int(seconds * 1000)) / 1000


@dataclass
class _Execution:
    """Every key of one execution (the Redis store's ``meta``, ``record``, … keys)."""

    version: int
    state: str
    workflow_hash: str
    created_at: float
    deadline: float | None
    name: str
    config: str
    record: str
    inputs: str
    workflow: str
    cancel: str | None = None
    pause: str | None = None
    parent: str | None = None
    library: str = ""
    children: dict[str, str] = field(default_factory=dict)
    child_outcomes: dict[str, str] = field(default_factory=dict)
    checkpoints: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    """(id, metadata json, node → output reference), oldest first."""
    cpseq: int = 0
    attempts: dict[str, Dispatched] = field(default_factory=dict)
    settled: dict[str, int] = field(default_factory=dict)
    """Node → attempt already applied by an orchestrator (never run again)."""
    claims: dict[str, Claim] = field(default_factory=dict)
    outcomes: dict[str, tuple[int, str]] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    blobs: dict[str, str] = field(default_factory=dict)
    events: list[str] = field(default_factory=list)
    """Event JSON; the event at index ``i`` has ``seq`` ``i`` and cursor ``_cursor(i + 1)``."""
    expires_at: float | None = None
    idem: str | None = None
    """The idempotency key it was created with (it goes when the execution expires)."""


class MemoryStore:
    """:class:`~oxify.store.base.StateStore` in this process (tests, embedded use)."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.RLock())
        self._executions: dict[str, _Execution] = {}
        self._created: dict[str, float] = {}
        """The ``oxify:executions`` index: execution id → creation time."""
        self._active: dict[str, float] = {}
        """The ``oxify:active`` index: non-terminal execution id → last progress."""
        self._expiries: list[tuple[float, str]] = []
        """A heap of (expiry, execution id): expired executions are dropped without a read."""
        self._idem: dict[str, str] = {}
        self._drive: dict[str, tuple[str, float]] = {}
        """Drive locks: execution id → (token, expiry)."""
        self._dirty: dict[str, float] = {}
        """Dirty marks: execution id → expiry."""

    def now(self) -> float:
        return time.time()

    # -- plumbing ---------------------------------------------------------------------------
    def _get(self, execution_id: str) -> _Execution | None:
        """The execution, or None when unknown or expired (an expired one is dropped)."""
        ex = self._executions.get(execution_id)
        if ex is None:
            return None
        if ex.expires_at is not None and ex.expires_at <= time.time():
            del self._executions[execution_id]
            self._created.pop(execution_id, None)
            self._active.pop(execution_id, None)
            if ex.idem is not None and self._idem.get(ex.idem) == execution_id:
                del self._idem[ex.idem]  # the key expires with its execution
            return None
        return ex

    def _sweep(self) -> None:
        """Drop the executions whose retention has passed."""
        now = time.time()
        while self._expiries and self._expiries[0][0] <= now:
            self._get(heapq.heappop(self._expiries)[1])

    def _append(self, ex: _Execution, events: list[str]) -> None:
        """Append event JSON to the execution's log and wake the blocked readers."""
        if events:
            ex.events.extend(events)
            self._cond.notify_all()

    @staticmethod
    def _decode(ex: _Execution | None, value: str) -> Any:
        if value.startswith("="):
            return json.loads(value[1:])
        blob = ex.blobs.get(value[1:]) if ex is not None else None
        if blob is None:
            raise KeyError(value)
        return json.loads(blob)

    # -- executions -------------------------------------------------------------------------
    def create(self, new: NewExecution, idempotency_key: str | None = None) -> tuple[str, bool]:
        eid = new.execution_id
        with self._cond:
            self._sweep()
            if idempotency_key is not None:
                existing = self._idem.get(idempotency_key)
                if existing is not None and self._get(existing) is not None:
                    return existing, False
                self._idem[idempotency_key] = eid
            if self._get(eid) is not None:
                raise ExecutionError(f"execution {eid} exists already")
            ex = _Execution(
                version=0,
                state=new.record["state"],
                workflow_hash=new.workflow_hash,
                created_at=float(new.created_at),
                deadline=None if new.deadline is None else float(new.deadline),
                name=json.loads(new.workflow_json).get("metadata", {}).get("name", "workflow"),
                config=_dumps(new.config),
                record=_dumps(new.record),
                inputs=_dumps(new.inputs),
                workflow=new.workflow_json,
                library=new.library_json,
                parent=(new.record.get("parent") or {}).get("execution_id"),
                idem=idempotency_key,
            )
            for node_id, value in new.outputs.items():
                ex.outputs[node_id], extra = encode_output(value)
                for digest, blob in extra.items():
                    ex.blobs.setdefault(digest, blob)
            self._executions[eid] = ex
            self._append(ex, [_dumps(e) for e in new.events])
            self._created[eid] = ex.created_at
            self._active[eid] = ex.created_at
            return eid, True

    def exists(self, execution_id: str) -> bool:
        with self._cond:
            return self._get(execution_id) is not None

    def workflow_json(self, execution_id: str) -> str:
        with self._cond:
            ex = self._get(execution_id)
            if ex is None:
                raise ExecutionError(f"no execution with id {execution_id}")
            return ex.workflow

    def library_json(self, execution_id: str) -> str:
        with self._cond:
            ex = self._get(execution_id)
            return "" if ex is None else ex.library

    def load(self, execution_id: str) -> Snapshot:
        with self._cond:
            ex = self._get(execution_id)
            if ex is None:
                raise ExecutionError(f"no execution with id {execution_id}")
            return Snapshot(
                version=ex.version,
                record=json.loads(ex.record),
                inputs=json.loads(ex.inputs),
                workflow_hash=ex.workflow_hash,
                created_at=ex.created_at,
                deadline=ex.deadline,
                cancel=ex.cancel,
                now=time.time(),
                outcomes=[Outcome.from_json(text) for _, text in ex.outcomes.values()],
                pause=ex.pause,
                children=[json.loads(text) for text in ex.child_outcomes.values()],
            )

    def commit(self, execution_id: str, version: int, commit: Commit, ttl: float | None) -> bool:
        """As :meth:`StateStore.commit`; ``ttl`` may be fractional here (Redis: whole seconds)."""
        # encode before taking the lock: a bad output fails before anything changes
        record = _dumps(commit.record)
        outputs: dict[str, str] = {}
        blobs: dict[str, str] = {}
        for node_id, value in commit.outputs.items():
            outputs[node_id], extra = encode_output(value)
            blobs.update(extra)
        events = [_dumps(e) for e in commit.events]
        with self._cond:
            ex = self._get(execution_id)
            if ex is None:
                return False
            if ex.version != version:
                if not commit.terminal and execution_id in self._active:
                    self._active[execution_id] = time.time()  # somebody else made progress
                return False
            ex.version += 1
            ex.record = record
            ex.state = commit.state
            if commit.reset:
                ex.outputs.clear()
                ex.outcomes.clear()
                ex.attempts.clear()
                ex.settled.clear()
                ex.claims.clear()
                ex.cancel = ex.pause = None
                ex.expires_at = None
                ex.deadline = commit.deadline
            if commit.definition is not None:
                ex.workflow, ex.library, ex.workflow_hash = commit.definition
            ex.outputs.update(outputs)
            for digest, blob in blobs.items():
                ex.blobs.setdefault(digest, blob)
            for node_id, attempt in commit.consumed:
                if node_id.startswith(CHILD_PREFIX):
                    ex.child_outcomes.pop(node_id[len(CHILD_PREFIX) :], None)
                    continue
                current = ex.outcomes.get(node_id)
                if current is not None and current[0] == attempt:
                    del ex.outcomes[node_id]
                sent = ex.attempts.get(node_id)
                if sent is not None and sent.attempt == attempt:
                    ex.settled[node_id] = attempt  # a late delivery must never run again
            for node_id, d in commit.dispatched.items():
                ex.attempts[node_id] = Dispatched(int(d.attempt), float(d.due))
                ex.settled.pop(node_id, None)
            self._append(ex, events)
            if commit.checkpoint is not None:
                self._checkpoint(ex, commit.checkpoint, commit.record)
            if commit.terminal:
                if ttl:
                    ex.expires_at = time.time() + ttl
                    heapq.heappush(self._expiries, (ex.expires_at, execution_id))
                self._active.pop(execution_id, None)
            else:
                self._active[execution_id] = time.time()
            return True

    def _checkpoint(self, ex: _Execution, cp: CheckpointRequest, record: dict[str, Any]) -> None:
        ex.cpseq += 1
        cid = str(ex.cpseq)
        ex.checkpoints.append((cid, _dumps(cp.meta(record)), dict(ex.outputs)))
        del ex.checkpoints[: max(0, len(ex.checkpoints) - cp.keep)]
        self._append(ex, [_dumps(cp.event).replace("__CHECKPOINT_ID__", cid)])

    def checkpoints(self, execution_id: str) -> list[Checkpoint]:
        with self._cond:
            ex = self._get(execution_id)
            kept = [] if ex is None else list(ex.checkpoints)
        return [
            Checkpoint.from_meta(cid, execution_id, json.loads(meta), refs)
            for cid, meta, refs in kept
        ]

    def checkpoint_outputs(self, execution_id: str, checkpoint: Checkpoint) -> dict[str, Any]:
        with self._cond:
            ex = self._get(execution_id)
            return {n: self._decode(ex, v) for n, v in checkpoint.outputs.items()}

    def child_finished(self, execution_id: str, child_id: str, result: dict[str, Any]) -> bool:
        text = _dumps(result)
        with self._cond:
            ex = self._get(execution_id)
            if ex is None or ex.state in ("completed", "failed", "cancelled"):
                return False
            if child_id in ex.children:
                return False
            ex.children[child_id] = text
            ex.child_outcomes[child_id] = text
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
        event: dict[str, Any],
    ) -> ClaimResult:
        event_json = _dumps(event)
        with self._cond:
            ex = self._get(execution_id)
            if ex is None or ex.state != "running" or ex.cancel is not None:
                return ClaimResult("stale")
            d = ex.attempts.get(node_id)
            if d is None or d.attempt != attempt or ex.settled.get(node_id) == attempt:
                return ClaimResult("stale")
            reported = ex.outcomes.get(node_id)
            if reported is not None and reported[0] == attempt:
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
            ex.claims[node_id] = Claim(attempt, worker, float(f"{now + lease:.6f}"))
            self._append(ex, [event_json])
            return ClaimResult("ok", json.loads(ex.inputs), json.loads(ex.config))

    def renew(
        self, execution_id: str, node_id: str, attempt: int, worker: str, lease: float
    ) -> bool:
        with self._cond:
            ex = self._get(execution_id)
            if ex is None or ex.state not in ("running", "paused") or ex.cancel is not None:
                return False
            sent = ex.attempts.get(node_id)
            if sent is None or sent.attempt != attempt or ex.settled.get(node_id) == attempt:
                return False
            held = ex.claims.get(node_id)
            if held is None or held.attempt != attempt or held.worker != worker:
                return False
            ex.claims[node_id] = Claim(attempt, worker, float(f"{time.time() + lease:.6f}"))
            return True

    def report(self, execution_id: str, outcome: Outcome, worker: str = "") -> bool:
        outcome, blobs = spill_output(outcome)
        text = outcome.to_json()
        with self._cond:
            try:
                return self._report(execution_id, outcome, worker, text, blobs)
            finally:
                if execution_id in self._active:  # as Redis' ZADD XX: accepted or not
                    self._active[execution_id] = time.time()

    def _report(
        self, execution_id: str, outcome: Outcome, worker: str, text: str, blobs: dict[str, str]
    ) -> bool:
        ex = self._get(execution_id)
        if ex is None or ex.state not in ("running", "paused"):
            return False
        node_id, attempt = outcome.node_id, outcome.attempt
        d = ex.attempts.get(node_id)
        if d is None or d.attempt != attempt or ex.settled.get(node_id) == attempt:
            return False
        reported = ex.outcomes.get(node_id)
        if reported is not None and reported[0] == attempt:
            return False
        held = ex.claims.get(node_id)
        if held is None or held.attempt != attempt or held.worker != worker:
            return False
        for digest, blob in blobs.items():
            ex.blobs.setdefault(digest, blob)
        ex.outcomes[node_id] = (attempt, text)
        ex.claims.pop(node_id, None)
        return True

    def status(self, execution_id: str) -> tuple[str | None, str | None]:
        with self._cond:
            ex = self._get(execution_id)
            return (None, None) if ex is None else (ex.state, ex.cancel)

    def outcomes(self, execution_id: str) -> list[Outcome]:
        with self._cond:
            ex = self._get(execution_id)
            texts = [] if ex is None else [text for _, text in ex.outcomes.values()]
        return [Outcome.from_json(text) for text in texts]

    def claims(self, execution_id: str) -> dict[str, Claim]:
        with self._cond:
            ex = self._get(execution_id)
            return {} if ex is None else dict(ex.claims)

    def dispatched(self, execution_id: str) -> dict[str, Dispatched]:
        with self._cond:
            ex = self._get(execution_id)
            if ex is None:
                return {}
            return {n: d for n, d in ex.attempts.items() if ex.settled.get(n) != d.attempt}

    def output(self, execution_id: str, node_id: str) -> Any:
        with self._cond:
            ex = self._get(execution_id)
            value = ex.outputs.get(node_id) if ex is not None else None
            if value is None:
                raise KeyError(node_id)
            return self._decode(ex, value)

    def outputs(self, execution_id: str) -> dict[str, Any]:
        with self._cond:
            ex = self._get(execution_id)
            if ex is None:
                return {}
            return {n: self._decode(ex, v) for n, v in ex.outputs.items()}

    def blob(self, execution_id: str, digest: str) -> Any:
        with self._cond:
            return self._decode(self._get(execution_id), "@" + digest)

    # -- events, cancel, drive, listing -----------------------------------------------------
    def events(
        self,
        execution_id: str,
        after: str | None = None,
        block: float | None = None,
        count: int = 1000,
    ) -> list[StoredEvent]:
        """As Redis' XRANGE (no ``block``) or XREAD (``block``): ``"$"`` means the events
        appended after this call (without ``block`` there are none yet)."""
        with self._cond:
            if after == "$":
                ex = self._get(execution_id)
                start = len(ex.events) if ex is not None else 0
                if block is None:
                    return []
            else:
                start = 0 if after is None else _parse_cursor(after)[0]
            deadline = None if block is None else time.monotonic() + _ms(block)
            while True:
                ex = self._get(execution_id)
                texts = ex.events[start : start + max(count, 0)] if ex is not None else []
                if texts or deadline is None:
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
        out: list[StoredEvent] = []
        for i, text in enumerate(texts, start):
            event = json.loads(text)
            event["seq"] = i
            out.append(StoredEvent(_cursor(i + 1), event))
        return out

    def request_pause(self, execution_id: str, reason: str) -> bool:
        with self._cond:
            ex = self._get(execution_id)
            if ex is None:
                raise ExecutionError(f"no execution with id {execution_id}")
            if ex.pause is not None:
                return False
            ex.pause = reason
            return True

    def clear_pause(self, execution_id: str) -> bool:
        with self._cond:
            ex = self._get(execution_id)
            if ex is None or ex.pause is None:
                return False
            ex.pause = None
            return True

    def request_cancel(self, execution_id: str, reason: str) -> bool:
        with self._cond:
            ex = self._get(execution_id)
            if ex is None:
                raise ExecutionError(f"no execution with id {execution_id}")
            if ex.cancel is not None:
                return False
            ex.cancel = reason
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
        with self._cond:
            if self._lock_holder(execution_id) is None:
                self._drive[execution_id] = (token, time.time() + _ms(ttl))
                self._dirty.pop(execution_id, None)
                return True
            self._dirty[execution_id] = time.time() + _ms(ttl)
            return False

    def finish_drive(self, execution_id: str, token: str, ttl: float) -> bool:
        with self._cond:
            if self._lock_holder(execution_id) != token:
                return True
            if self._take_dirty(execution_id):
                self._drive[execution_id] = (token, time.time() + _ms(ttl))
                return False
            del self._drive[execution_id]
            return True

    def abort_drive(self, execution_id: str, token: str) -> None:
        with self._cond:
            if self._lock_holder(execution_id) == token:
                del self._drive[execution_id]

    def recent(
        self, state: str | None = None, limit: int = 100, include_children: bool = True
    ) -> list[dict[str, Any]]:
        with self._cond:
            order = sorted(self._created.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)
            out: list[dict[str, Any]] = []
            for eid, _ in order:
                if len(out) >= limit:
                    break
                ex = self._get(eid)
                if ex is None or (state is not None and ex.state != state):
                    continue
                if ex.parent and not include_children:
                    continue
                out.append(
                    {
                        "execution_id": eid,
                        "state": ex.state,
                        "created_at": ex.created_at,
                        "workflow": ex.name,
                        "parent": ex.parent,
                    }
                )
            return out

    def forget_stalled(self, execution_id: str) -> None:
        with self._cond:
            self._active.pop(execution_id, None)

    def stalled(self, older_than: float) -> list[str]:
        with self._cond:
            order = sorted(self._active.items(), key=lambda kv: (kv[1], kv[0]))
            return [eid for eid, t in order if t <= older_than and self._get(eid) is not None]


if TYPE_CHECKING:  # mypy checks that the class really implements the protocol
    _conforms: StateStore = MemoryStore()
