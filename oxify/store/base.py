"""The StateStore protocol: where an execution's state lives between steps.

Every change is one atomic operation guarded by compare-and-set: the execution record by its
``version``, a node attempt by its ``attempt`` number. A duplicate delivery or a stale
worker therefore cannot run a node twice or record two results.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from oxify.checkpoints import Checkpoint

CHILD_PREFIX = "child:"
"""Outcome keys of finished child executions (``child:<execution id>``)."""

ClaimStatus = Literal["ok", "stale", "busy"]
"""``ok``: run it; ``stale``: this attempt is not (or no longer) wanted; ``busy``: another
live worker holds it."""

INLINE_LIMIT = 1024
"""Outputs up to this many bytes of JSON are stored inline; larger ones once, by hash."""


def encode_output(value: Any) -> tuple[str, dict[str, str]]:
    """How a store keeps an output: ``("=<json>", {})`` inline, or ``("@<sha256>",
    {sha256: json})`` for a large value (stored once per execution, shared by reference).
    An object with a ``digest`` attribute is a reference to a blob stored already."""
    digest = getattr(value, "digest", None)
    if isinstance(digest, str):
        return "@" + digest, {}
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    if len(text) <= INLINE_LIMIT:
        return "=" + text, {}
    digest = hashlib.sha256(text.encode()).hexdigest()
    return "@" + digest, {digest: text}


@dataclass(frozen=True)
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
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Outcome:
        return cls(**json.loads(text))


def spill_output(outcome: Outcome) -> tuple[Outcome, dict[str, str]]:
    """A reported outcome as stores keep it: a large output moves to a blob (``{sha256:
    json}``) and the outcome keeps only its ``output_ref``."""
    if not outcome.ok or outcome.output_ref is not None:
        return outcome, {}
    _, blobs = encode_output(outcome.output)
    if not blobs:
        return outcome, {}
    ((digest, _),) = blobs.items()
    return replace(outcome, output=None, output_ref=digest), blobs


@dataclass(frozen=True)
class Claim:
    attempt: int
    worker: str
    lease_until: float


@dataclass(frozen=True)
class Dispatched:
    """The attempt of a node the orchestrator sent, and when it may run (after a delay)."""

    attempt: int
    due: float


@dataclass(frozen=True)
class NewExecution:
    execution_id: str
    workflow_json: str
    workflow_hash: str
    record: dict[str, Any]
    inputs: dict[str, Any]
    created_at: float
    deadline: float | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    library_json: str = ""
    """The sub-workflows the definition loads from files (path → workflow), as JSON."""
    outputs: dict[str, Any] = field(default_factory=dict)
    """Outputs recorded already (a replay reuses those of the execution it replays)."""


@dataclass(frozen=True)
class CheckpointRequest:
    """Take a checkpoint in the same atomic commit: the committed record and a reference to
    every stored output. ``event`` is the ``checkpoint.created`` event, whose
    ``"checkpoint_id"`` the store fills in; the newest ``keep`` checkpoints are kept."""

    reason: str
    created_at: float
    workflow_hash: str
    keep: int
    event: dict[str, Any]

    def meta(self, record: dict[str, Any]) -> dict[str, Any]:
        """What a store keeps of the checkpoint besides its output references (read back
        with :meth:`oxify.checkpoints.Checkpoint.from_meta`)."""
        return {
            "reason": self.reason,
            "created_at": self.created_at,
            "workflow_hash": self.workflow_hash,
            "record": record,
        }


@dataclass
class Commit:
    """Everything one orchestration step changes, applied atomically if ``version`` still
    matches: the new record, outputs of nodes that succeeded, the outcomes it consumed, the
    attempts it dispatched, and the events it emits."""

    record: dict[str, Any]
    state: str
    outputs: dict[str, Any] = field(default_factory=dict)
    consumed: list[tuple[str, int]] = field(default_factory=list)
    dispatched: dict[str, Dispatched] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    terminal: bool = False
    checkpoint: CheckpointRequest | None = None
    reset: bool = False
    """A restart (resume from a checkpoint): ``outputs`` replace every stored output; the
    claims, outcomes and dispatched attempts of the run before are dropped (its workers are
    fenced off); the cancel and pause requests are cleared; a finished execution's keys
    stop expiring."""
    deadline: float | None = None
    """With ``reset``: the execution's new time limit (seconds since the epoch)."""
    definition: tuple[str, str, str] | None = None
    """A new definition to pin the execution to: ``(workflow json, library json, hash)``
    (a resume with ``allow_changed``)."""


@dataclass(frozen=True)
class Snapshot:
    """An execution as loaded: the record version, the record, its inputs, its metadata."""

    version: int
    record: dict[str, Any]
    inputs: dict[str, Any]
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
    children: list[dict[str, Any]] = field(default_factory=list)
    """Child executions that finished and whose results are not yet applied (consume them
    with ``("child:<id>", 0)`` in :attr:`Commit.consumed`)."""


@dataclass(frozen=True)
class ClaimResult:
    """A claim's status and, when it is ``ok``, what the worker needs to run the node."""

    status: ClaimStatus
    inputs: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredEvent:
    cursor: str
    event: dict[str, Any]


class StateStore(Protocol):
    """Execution state: records, node claims and outcomes, outputs, events, cancel flags."""

    def now(self) -> float:
        """The store's clock (leases are measured on it, not on worker clocks)."""
        ...

    def create(self, new: NewExecution, idempotency_key: str | None = None) -> tuple[str, bool]:
        """Store a new execution; with an idempotency key seen before, return the execution
        created then and ``False``. The key lives as long as that execution: it expires
        with it (``ttl`` of its terminal commit)."""
        ...

    def exists(self, execution_id: str) -> bool: ...

    def workflow_json(self, execution_id: str) -> str: ...

    def load(self, execution_id: str) -> Snapshot:
        """Raises :class:`~oxify.errors.ExecutionError` for an unknown execution."""
        ...

    def commit(self, execution_id: str, version: int, commit: Commit, ttl: int | None) -> bool:
        """Apply ``commit`` if the record is still at ``version``; ``ttl`` (seconds) is set on
        every key of the execution once it is terminal."""
        ...

    def claim(
        self,
        execution_id: str,
        node_id: str,
        attempt: int,
        worker: str,
        lease: float,
        event: dict[str, Any],
    ) -> ClaimResult:
        """Take attempt ``attempt`` of a node for ``worker`` for ``lease`` seconds; on ``ok``
        the ``node.started`` event is appended and the inputs and config come back."""
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
        """A succeeded node's output; ``KeyError`` if it has none."""
        ...

    def outputs(self, execution_id: str) -> dict[str, Any]: ...

    def blob(self, execution_id: str, digest: str) -> Any:
        """A large output stored by its hash."""
        ...

    def events(
        self,
        execution_id: str,
        after: str | None = None,
        block: float | None = None,
        count: int = 1000,
    ) -> list[StoredEvent]:
        """Events after cursor ``after`` (from the first when None), waiting up to ``block``
        seconds for new ones."""
        ...

    def request_cancel(self, execution_id: str, reason: str) -> bool: ...

    def request_pause(self, execution_id: str, reason: str) -> bool:
        """Ask a running execution to pause; False if a pause is requested already."""
        ...

    def clear_pause(self, execution_id: str) -> bool:
        """Withdraw the pause request; False if there was none."""
        ...

    def library_json(self, execution_id: str) -> str:
        """The sub-workflow library of the definition (``""`` for none)."""
        ...

    def child_finished(self, execution_id: str, child_id: str, result: dict[str, Any]) -> bool:
        """Record, once, that child execution ``child_id`` of ``execution_id`` ended with
        ``result``; False if it was recorded already or the parent is finished."""
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
    ) -> list[dict[str, Any]]:
        """Newest executions first: ``execution_id``, ``state``, ``created_at``, ``workflow``,
        ``parent`` (the parent execution's id for a child execution, else None)."""
        ...

    def stalled(self, older_than: float) -> list[str]:
        """Non-terminal executions with no progress since ``older_than`` (seconds since the
        epoch on the clocks of the processes that made progress: the index is a hint)."""
        ...

    def forget_stalled(self, execution_id: str) -> None:
        """Drop an execution from the index :meth:`stalled` reads (it ended, or expired)."""
        ...
