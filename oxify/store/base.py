"""The StateStore protocol: where an execution's state lives between steps, and the typed
values that cross process boundaries through it.

Every change is one atomic operation guarded by compare-and-set: the execution record by its
``version``, a node attempt by its ``attempt`` number and the claim of the worker running it.
A duplicate delivery or a stale worker therefore cannot run a node twice or record two
results. Two stores implement it: :class:`~oxify.store.memory.MemoryStore` (in-process:
embedded mode, tests) and :class:`~oxify.store.redis.RedisStore` (distributed mode, Lua).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from oxify.engine.state import ExecutionRecord
    from oxify.events import Event
    from oxify.model.definition import Definition
    from oxify.store.checkpoints import Checkpoint

ClaimStatus = Literal["ok", "stale", "busy"]
"""``ok``: run it; ``stale``: this attempt is not (or no longer) wanted; ``busy``: another
live worker holds it."""


@dataclass(frozen=True, slots=True)
class OutputRef:
    """A large output stored already, by the hash of its JSON (a worker's report put it
    there): a commit records the reference instead of storing the value again."""

    digest: str


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event as a role emits it; the store numbers it (``seq``) and returns it as an
    :class:`~oxify.events.Event`."""

    type: str
    data: dict[str, Any]
    timestamp: float

    def to_dict(self, execution_id: str, workflow_id: str) -> dict[str, Any]:
        return {
            "type": self.type,
            "execution_id": execution_id,
            "workflow_id": workflow_id,
            "timestamp": self.timestamp,
            "data": self.data,
        }


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one attempt of one node produced, as a worker reports it."""

    node_id: str
    attempt: int
    ok: bool
    output: Any = None
    output_ref: str | None = None
    """Set instead of ``output`` when the output is large: the hash it is stored under."""
    routes: list[str] | None = None
    error: str | None = None
    retryable: bool = False
    timed_out: bool = False
    started_at: float | None = None
    finished_at: float | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Outcome:
        return cls(**json.loads(text))


@dataclass(frozen=True, slots=True)
class ChildOutcome:
    """How a child execution ended, recorded once on its parent for the waiting node."""

    child: str
    node_id: str
    attempt: int
    label: str
    state: Literal["completed", "failed", "cancelled"]
    output: Any = None
    error: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> ChildOutcome:
        return cls(**json.loads(text))


@dataclass(frozen=True, slots=True)
class Claim:
    attempt: int
    worker: str
    lease_until: float


@dataclass(frozen=True, slots=True)
class Dispatched:
    """The attempt of a node the driver sent (or holds), and when it may run."""

    attempt: int
    due: float


@dataclass(frozen=True, slots=True)
class NewExecution:
    """An execution to create: its pinned definition, its first record (``pending``, with
    its options in ``record.config``), the events announcing it, and the outputs it starts
    with (a replay reuses those of the execution it replays)."""

    definition: Definition
    record: ExecutionRecord
    created_at: float
    deadline: float | None = None
    events: list[NewEvent] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)

    @property
    def execution_id(self) -> str:
        return self.record.execution_id

    @property
    def parent_id(self) -> str | None:
        return self.record.parent.execution_id if self.record.parent is not None else None


@dataclass(frozen=True, slots=True)
class CheckpointRequest:
    """Take a checkpoint in the same atomic commit: the committed record and a reference to
    every stored output; the newest ``keep`` are kept. ``announce``: append the
    ``checkpoint.created`` event (the store fills in the new checkpoint's id)."""

    reason: str
    created_at: float
    workflow_hash: str
    keep: int
    announce: bool = True

    def event(self, checkpoint_id: str, record: ExecutionRecord) -> NewEvent:
        """The ``checkpoint.created`` event of the checkpoint taken."""
        data = {
            "checkpoint_id": checkpoint_id,
            "reason": self.reason,
            "level": record.current_level,
            "completed_nodes": record.finished_count,
        }
        return NewEvent("checkpoint.created", data, self.created_at)


@dataclass(slots=True)
class Commit:
    """Everything one step changes, applied atomically if the record is still at the
    expected version: the record (a store writes the nodes the step touched), outputs of
    nodes that succeeded, the outcomes and child results it consumed, the attempts it
    dispatched, and the events it emits."""

    record: ExecutionRecord
    outputs: dict[str, Any] = field(default_factory=dict)
    consumed: list[tuple[str, int]] = field(default_factory=list)
    """Node attempts applied: their outcomes go, and they never run again."""
    consumed_children: list[str] = field(default_factory=list)
    dispatched: dict[str, Dispatched] = field(default_factory=dict)
    events: list[NewEvent] = field(default_factory=list)
    checkpoint: CheckpointRequest | None = None
    reset: bool = False
    """A restart (resume): ``outputs`` replace every stored output; the claims, outcomes and
    dispatched attempts of the run before are dropped (its workers are fenced off); the
    cancel and pause requests are cleared; a finished execution's keys stop expiring."""
    deadline: float | None = None
    """With ``reset``: the execution's new time limit (seconds since the epoch)."""
    definition: Definition | None = None
    """A new definition to pin the execution to (a resume with ``allow_changed``)."""

    @property
    def terminal(self) -> bool:
        return self.record.state.terminal


@dataclass(frozen=True, slots=True)
class Snapshot:
    """An execution as loaded: its version, its record (a private copy), its flags, the
    store's clock, and what happened since the last step (outcomes, child results)."""

    version: int
    record: ExecutionRecord
    workflow_hash: str
    created_at: float
    deadline: float | None
    cancel: str | None
    now: float
    """The store's clock when the snapshot was taken."""
    outcomes: list[Outcome] = field(default_factory=list)
    """Outcomes reported by workers and not yet applied."""
    pause: str | None = None
    """A pause request (its reason), until the execution is resumed."""
    children: list[ChildOutcome] = field(default_factory=list)
    """Child executions that ended and whose results are not yet applied."""


@dataclass(frozen=True, slots=True)
class ClaimResult:
    """A claim's status and, when it is ``ok``, what the worker needs to run the node and
    the ``node.started`` event as stored."""

    status: ClaimStatus
    inputs: Mapping[str, Any] = field(default_factory=dict)
    node_timeout: float | None = None
    """The execution's default per-attempt time limit (``ExecutionConfig.node_timeout``)."""
    event: Event | None = None


@dataclass(frozen=True, slots=True)
class ExecutionSummary:
    """One line of :meth:`StateStore.recent`."""

    execution_id: str
    state: str
    created_at: float
    workflow: str
    parent: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class StateStore(Protocol):
    """Execution state: records, node claims and outcomes, outputs, events, flags."""

    def now(self) -> float:
        """The store's clock (leases and deadlines are measured on it)."""
        ...

    def create(self, new: NewExecution, idempotency_key: str | None = None) -> tuple[str, bool]:
        """Store a new execution; with an idempotency key seen before, return the execution
        created then and ``False``. The key lives as long as that execution: it expires
        with it (``ttl`` of its terminal commit)."""
        ...

    def exists(self, execution_id: str) -> bool: ...

    def definition(self, execution_id: str) -> Definition:
        """The definition the execution is pinned to (callers cache it by hash)."""
        ...

    def load(self, execution_id: str) -> Snapshot:
        """Raises :class:`~oxify.errors.ExecutionError` for an unknown execution."""
        ...

    def commit(
        self, execution_id: str, version: int, commit: Commit, ttl: float | None
    ) -> list[Event] | None:
        """Apply ``commit`` if the record is still at ``version``: the events it appended
        (numbered), or None when another step committed first. ``ttl`` (seconds) is set on
        the execution once it is terminal."""
        ...

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
        """Take attempt ``attempt`` of a node for ``worker`` for ``lease`` seconds; on ``ok``
        the ``node.started`` event (of workflow ``workflow_id``) is appended and the inputs
        and the default time limit come back."""
        ...

    def renew(
        self, execution_id: str, node_id: str, attempt: int, worker: str, lease: float
    ) -> bool:
        """Extend a claim; False if the worker no longer holds it, the attempt is not the
        one dispatched (or is settled), or the execution is neither running nor paused (it
        ended, is being cancelled, or was reset): stop, it is fenced off."""
        ...

    def report(self, execution_id: str, outcome: Outcome, worker: str) -> bool:
        """Record an attempt's outcome; False for a stale attempt, a duplicate report, or a
        worker that does not hold the attempt's claim."""
        ...

    def status(self, execution_id: str) -> tuple[str | None, str | None]:
        """``(state, cancel reason)``; state None for an unknown execution."""
        ...

    def outcomes(self, execution_id: str) -> list[Outcome]: ...

    def claims(self, execution_id: str) -> dict[str, Claim]: ...

    def dispatched(self, execution_id: str) -> dict[str, Dispatched]: ...

    def output(self, execution_id: str, node_id: str) -> Any:
        """A node's stored output; ``KeyError`` if it has none."""
        ...

    def outputs(self, execution_id: str) -> dict[str, Any]: ...

    def events(
        self,
        execution_id: str,
        after: str | None = None,
        block: float | None = None,
        count: int = 1000,
    ) -> list[Event]:
        """Events after cursor ``after`` (from the first when None; ``"$"``: only those
        appended after this call), waiting up to ``block`` seconds for new ones. Each
        carries its ``cursor``."""
        ...

    def request_cancel(self, execution_id: str, reason: str) -> bool:
        """Flag the execution for cancel; False if it was flagged already."""
        ...

    def request_pause(self, execution_id: str, reason: str) -> bool:
        """Ask a running execution to pause; False if a pause is requested already."""
        ...

    def clear_pause(self, execution_id: str) -> bool:
        """Withdraw the pause request; False if there was none."""
        ...

    def child_finished(self, execution_id: str, outcome: ChildOutcome) -> bool:
        """Record, once, that a child execution of ``execution_id`` ended; False if it was
        recorded already or the parent is finished."""
        ...

    def checkpoints(self, execution_id: str) -> list[Checkpoint]:
        """The execution's checkpoints, oldest first (``outputs`` hold stored references)."""
        ...

    def checkpoint_outputs(self, execution_id: str, checkpoint: Checkpoint) -> dict[str, Any]:
        """The outputs a checkpoint refers to, decoded (the values keep being shared)."""
        ...

    def begin_drive(self, execution_id: str, token: str, ttl: float) -> bool:
        """Single-flight: True if ``token`` now holds the execution's drive lock (for
        ``ttl`` seconds); otherwise mark the execution dirty for the holder and say False."""
        ...

    def finish_drive(self, execution_id: str, token: str, ttl: float) -> bool:
        """After a drive: True when done (the lock is released, or was lost); False when
        somebody marked the execution dirty meanwhile (the mark is cleared, the lock kept
        for another ``ttl``): drive once more."""
        ...

    def abort_drive(self, execution_id: str, token: str) -> None:
        """Release the drive lock if ``token`` holds it (after an error)."""
        ...

    def recent(
        self, state: str | None = None, limit: int = 100, include_children: bool = True
    ) -> list[ExecutionSummary]:
        """Newest executions first."""
        ...

    def stalled(self, older_than: float) -> list[str]:
        """Non-terminal executions with no progress since ``older_than`` (seconds since the
        epoch on the clocks of the processes that made progress: the index is a hint)."""
        ...

    def forget_stalled(self, execution_id: str) -> None:
        """Drop an execution from the index :meth:`stalled` reads (it ended, or expired)."""
        ...
