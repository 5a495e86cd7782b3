"""The Redis state store: every change one Lua script, keys ``oxify:{<execution id>}:…``.

Per execution (one Redis Cluster slot, thanks to the hash tag):

=============  ======  ==============================================================
``meta``       hash    version, state, workflow_hash, created_at, deadline, cancel, pause,
                       seq, name, config, parent, idem
``record``     string  the execution record (JSON, without outputs and inputs)
``inputs``     string  workflow inputs (JSON)
``workflow``   string  the workflow definition the execution is pinned to (JSON)
``attempts``   hash    node → ``attempt|due``: the attempt dispatched last
``claims``     hash    node → ``attempt|worker|lease_until`` (Redis clock)
``outcomes``   hash    node → ``attempt|outcome json``, until an orchestrator applies it
``outputs``    hash    node → ``=<json>`` inline, or ``@<sha256>`` for a large value
``blobs``      hash    sha256 → JSON of a large output (stored once per execution)
``events``     stream  the event log (fields ``seq`` and ``e``)
``library``    string  sub-workflows the definition loaded from files (JSON, if any)
``children``   hash    child execution id → its result (composite nodes)
``checkpoints`` hash   checkpoint id → record and metadata; ``<id>:o`` → output refs
``cplist``     list    checkpoint ids, oldest first (pruned to ``max_checkpoints``)
=============  ======  ==============================================================

Outcomes of finished child executions sit in ``outcomes`` under ``child:<id>``.

Global: ``oxify:executions`` (zset by creation time), ``oxify:active`` (zset of running
executions by last progress), ``oxify:idem:<key>`` (idempotency keys; the key is recorded
in ``meta`` and expires with its execution). These indexes are hints kept beside the
scripts; the per-execution keys are the truth.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import replace
from importlib.resources import files
from typing import TYPE_CHECKING, Any, cast

import redis

from oxify.engine.state import ExecutionRecord
from oxify.errors import ExecutionError, OxifyError
from oxify.events import Event
from oxify.model.definition import Definition
from oxify.model.io import parse_workflow, workflow_to_data
from oxify.store.base import (
    ChildOutcome,
    Claim,
    ClaimResult,
    ClaimStatus,
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
from oxify.store.checkpoints import Checkpoint

CHILD_PREFIX = "child:"
"""Outcome keys of finished child executions (``child:<execution id>``)."""

INLINE_LIMIT = 1024
"""Outputs up to this many bytes of JSON are stored inline; larger ones once, by hash."""


def encode_output(value: Any) -> tuple[str, dict[str, str]]:
    """How the store keeps an output: ``("=<json>", {})`` inline, or ``("@<sha256>",
    {sha256: json})`` for a large value (stored once per execution, shared by reference).
    An :class:`OutputRef` refers to a blob stored already."""
    if isinstance(value, OutputRef):
        return "@" + value.digest, {}
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    if len(text) <= INLINE_LIMIT:
        return "=" + text, {}
    digest = hashlib.sha256(text.encode()).hexdigest()
    return "@" + digest, {digest: text}


def spill_output(outcome: Outcome) -> tuple[Outcome, dict[str, str]]:
    """A reported outcome as the store keeps it: a large output moves to a blob (``{sha256:
    json}``) and the outcome keeps only its ``output_ref``."""
    if not outcome.ok or outcome.output_ref is not None:
        return outcome, {}
    _, blobs = encode_output(outcome.output)
    if not blobs:
        return outcome, {}
    ((digest, _),) = blobs.items()
    return replace(outcome, output=None, output_ref=digest), blobs


_PARTS = (
    "meta",
    "record",
    "inputs",
    "workflow",
    "attempts",
    "claims",
    "outcomes",
    "outputs",
    "blobs",
    "events",
    "library",
    "children",
    "checkpoints",
    "cplist",
)
EXECUTIONS = "oxify:executions"
ACTIVE = "oxify:active"


class StoreUnavailable(OxifyError):
    """Redis cannot be reached (wrong URL, server down, refused credentials)."""


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _script(name: str) -> str:
    return (files("oxify.store") / "lua" / f"{name}.lua").read_text(encoding="utf-8")


class RedisStore:
    """:class:`~oxify.store.base.StateStore` on Redis (7.0+)."""

    def __init__(self, url: str, *, client: redis.Redis | None = None) -> None:
        self.url = url
        self.redis: redis.Redis = client or redis.Redis.from_url(
            url, decode_responses=True, socket_connect_timeout=5, health_check_interval=30
        )
        self._create = self.redis.register_script(_script("create"))
        self._commit = self.redis.register_script(_script("commit"))
        self._claim = self.redis.register_script(_script("claim"))
        self._renew = self.redis.register_script(_script("renew"))
        self._report = self.redis.register_script(_script("report"))
        self._drive = self.redis.register_script(_script("drive"))
        self._child = self.redis.register_script(_script("child"))
        self._set_flag = self.redis.register_script(_script("flag"))
        self._idem = self.redis.register_script(_script("idem"))

    # -- plumbing ---------------------------------------------------------------------------
    @staticmethod
    def key(execution_id: str, part: str) -> str:
        return f"oxify:{{{execution_id}}}:{part}"

    def _keys(self, execution_id: str, *parts: str) -> list[str]:
        return [self.key(execution_id, p) for p in parts]

    def ping(self) -> None:
        """Check the connection; :class:`StoreUnavailable` with a clear message if it fails."""
        try:
            self.redis.ping()
        except redis.AuthenticationError as e:
            raise StoreUnavailable(f"Redis at {self.safe_url} refused the credentials: {e}") from e
        except (redis.ConnectionError, redis.TimeoutError, OSError) as e:
            raise StoreUnavailable(f"cannot reach Redis at {self.safe_url}: {e}") from e
        except redis.ResponseError as e:
            raise StoreUnavailable(f"Redis at {self.safe_url} answered with an error: {e}") from e

    @property
    def safe_url(self) -> str:
        """The URL with any password hidden."""
        from urllib.parse import urlsplit, urlunsplit

        parts = urlsplit(self.url)
        if parts.password:
            host = parts.hostname or ""
            if parts.port:
                host += f":{parts.port}"
            user = parts.username or ""
            return urlunsplit((parts.scheme, f"{user}:***@{host}", parts.path, parts.query, ""))
        return self.url

    def now(self) -> float:
        seconds, micros = self.redis.time()
        return seconds + micros / 1_000_000

    # -- executions -------------------------------------------------------------------------
    def create(self, new: NewExecution, idempotency_key: str | None = None) -> tuple[str, bool]:
        eid = new.execution_id
        if idempotency_key is not None:
            idem = _idem_key(idempotency_key)
            if not self.redis.set(idem, eid, nx=True):
                existing = self._idem_owner(idem)
                if existing is not None:
                    return existing, False
                self.redis.set(idem, eid)
        keys = self._keys(
            eid, "meta", "record", "inputs", "workflow", "events", "outputs", "blobs", "library"
        )
        record = new.record
        definition = new.definition
        library = definition.library_data()
        args: list[Any] = [
            _dumps(record.to_dict()),
            _dumps(record.inputs),
            _dumps(workflow_to_data(definition.workflow)),
            definition.hash,
            repr(new.created_at),
            "" if new.deadline is None else repr(new.deadline),
            record.state.value,
            definition.workflow.name,
            _dumps(record.config.model_dump()),
            _dumps(library) if library else "",
            new.parent_id or "",
            idempotency_key or "",
        ]
        blobs: dict[str, str] = {}
        args.append(len(new.outputs))
        for node_id, value in new.outputs.items():
            field, extra = encode_output(value)
            blobs.update(extra)
            args += [node_id, field]
        args.append(len(blobs))
        for digest, text in blobs.items():
            args += [digest, text]
        args += [_dumps(e.to_dict(eid, record.workflow_id)) for e in new.events]
        created = bool(self._create(keys=keys, args=args))
        if not created:
            raise ExecutionError(f"execution {eid} exists already")
        pipe = self.redis.pipeline(transaction=False)
        pipe.zadd(EXECUTIONS, {eid: new.created_at})
        pipe.zadd(ACTIVE, {eid: new.created_at})
        pipe.execute()
        return eid, True

    def _idem_owner(self, idem: str) -> str | None:
        """The execution an idempotency key names, if it still exists. A key whose
        execution is gone while the key has no expiry belongs to a submit in flight (or
        one that died half-way): wait for it, up to 5 s; a key that expires with its
        finished execution is free at once."""
        deadline = time.monotonic() + 5.0
        while True:
            pipe = self.redis.pipeline(transaction=False)
            pipe.get(idem)
            pipe.ttl(idem)
            existing, ttl = pipe.execute()
            if existing is None:
                return None
            if self.exists(existing):
                return cast(str, existing)
            if ttl != -1 or time.monotonic() > deadline:
                return None
            time.sleep(0.02)

    def exists(self, execution_id: str) -> bool:
        return bool(self.redis.exists(self.key(execution_id, "meta")))

    def definition(self, execution_id: str) -> Definition:
        pipe = self.redis.pipeline(transaction=False)
        pipe.get(self.key(execution_id, "workflow"))
        pipe.get(self.key(execution_id, "library"))
        text, library = pipe.execute()
        if text is None:
            raise ExecutionError(f"no execution with id {execution_id}")
        workflow = parse_workflow(json.loads(text), source=f"execution {execution_id}")
        return Definition.from_data(workflow, json.loads(library) if library else None)

    def load(self, execution_id: str) -> Snapshot:
        pipe = self.redis.pipeline(transaction=True)
        pipe.hgetall(self.key(execution_id, "meta"))
        pipe.get(self.key(execution_id, "record"))
        pipe.get(self.key(execution_id, "inputs"))
        pipe.hgetall(self.key(execution_id, "outcomes"))
        pipe.time()
        meta, record, inputs, outcomes, (seconds, micros) = pipe.execute()
        if not meta or record is None:
            raise ExecutionError(f"no execution with id {execution_id}")
        reported, children = _split_outcomes(outcomes)
        return Snapshot(
            version=int(meta["version"]),
            record=ExecutionRecord.from_dict(json.loads(record), json.loads(inputs or "{}")),
            workflow_hash=meta["workflow_hash"],
            created_at=float(meta["created_at"]),
            deadline=float(meta["deadline"]) if meta.get("deadline") else None,
            cancel=meta.get("cancel"),
            now=seconds + micros / 1_000_000,
            outcomes=reported,
            pause=meta.get("pause"),
            children=children,
        )

    def commit(
        self, execution_id: str, version: int, commit: Commit, ttl: float | None
    ) -> list[Event] | None:
        keys = self._keys(
            execution_id,
            "meta",
            "record",
            "outputs",
            "outcomes",
            "attempts",
            "events",
            "blobs",
            "checkpoints",
            "cplist",
        )
        keys += self._keys(execution_id, "inputs", "workflow", "claims", "library", "children")
        record = commit.record
        data = record.to_dict()
        args: list[Any] = [
            version,
            _dumps(data),
            record.state.value,
            int(ttl or 0),
            1 if commit.terminal else 0,
            _reset_flag(commit),
        ]
        blobs: dict[str, str] = {}
        args.append(len(commit.outputs))
        for node_id, value in commit.outputs.items():
            field, extra = encode_output(value)
            blobs.update(extra)
            args += [node_id, field]
        consumed = commit.consumed + [(CHILD_PREFIX + c, 0) for c in commit.consumed_children]
        args.append(len(consumed))
        for node_id, attempt in consumed:
            args += [node_id, attempt]
        args.append(len(commit.dispatched))
        for node_id, d in commit.dispatched.items():
            args += [node_id, f"{d.attempt}|{d.due!r}"]
        wid = record.workflow_id
        args.append(len(commit.events))
        args += [_dumps(e.to_dict(execution_id, wid)) for e in commit.events]
        args.append(len(blobs))
        for digest, text in blobs.items():
            args += [digest, text]
        cp = commit.checkpoint
        if cp is None:
            args.append(0)
        else:
            meta = {
                "reason": cp.reason,
                "created_at": cp.created_at,
                "workflow_hash": cp.workflow_hash,
                "record": data,
            }
            event = cp.event("__CHECKPOINT_ID__", record).to_dict(execution_id, wid)
            args += [1, _dumps(meta), cp.keep, _dumps(event) if cp.announce else ""]
        if commit.definition is None:
            args.append(0)
        else:
            library = commit.definition.library_data()
            workflow = _dumps(workflow_to_data(commit.definition.workflow))
            args += [1, workflow, _dumps(library) if library else "", commit.definition.hash]
        if commit.terminal:
            done = self._commit(keys=keys, args=args)
            if not done:
                return None
            self.redis.zrem(ACTIVE, execution_id)
            if done[1] and ttl:
                self._idem(keys=[_idem_key(done[1])], args=[execution_id, int(ttl)])
        else:
            # one round trip: the script and the progress mark of the index (XX: only for
            # an execution still listed, so a finished one never comes back)
            pipe = self.redis.pipeline(transaction=False)
            self._commit(keys=keys, args=args, client=pipe)
            pipe.zadd(ACTIVE, {execution_id: time.time()}, xx=not commit.reset)
            done = pipe.execute()[0]
            if not done:
                return None
            if commit.reset and done[1]:  # running again: its key stays with it
                self._idem(keys=[_idem_key(done[1])], args=[execution_id, 0])
        return _appended(execution_id, wid, commit, record, done)

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
        keys = self._keys(execution_id, "meta", "attempts", "claims", "outcomes", "events")
        pipe = self.redis.pipeline(transaction=False)
        data = _dumps(event.to_dict(execution_id, workflow_id))
        self._claim(keys=keys, args=[node_id, attempt, worker, lease, data], client=pipe)
        pipe.get(self.key(execution_id, "inputs"))
        pipe.hget(self.key(execution_id, "meta"), "config")
        reply, inputs, config = pipe.execute()
        status = cast(ClaimStatus, reply[0])
        if status != "ok":
            return ClaimResult(status)
        started = Event(
            event.type,
            execution_id,
            workflow_id,
            int(reply[1]),
            event.timestamp,
            event.data,
            reply[2],
        )
        limit = json.loads(config).get("node_timeout") if config else None
        return ClaimResult("ok", json.loads(inputs) if inputs else {}, limit, started)

    def renew(
        self, execution_id: str, node_id: str, attempt: int, worker: str, lease: float
    ) -> bool:
        keys = self._keys(execution_id, "claims", "meta", "attempts")
        return bool(self._renew(keys=keys, args=[node_id, attempt, worker, lease]))

    def report(self, execution_id: str, outcome: Outcome, worker: str) -> bool:
        outcome, spilled = spill_output(outcome)
        blobs = [item for pair in spilled.items() for item in pair]
        keys = self._keys(execution_id, "meta", "attempts", "outcomes", "blobs", "claims")
        args: list[Any] = [outcome.node_id, outcome.attempt, worker, outcome.to_json(), *blobs]
        pipe = self.redis.pipeline(transaction=False)
        self._report(keys=keys, args=args, client=pipe)
        pipe.zadd(ACTIVE, {execution_id: time.time()}, xx=True)
        return bool(pipe.execute()[0])

    def status(self, execution_id: str) -> tuple[str | None, str | None]:
        state, cancel = cast(
            list[str | None], self.redis.hmget(self.key(execution_id, "meta"), "state", "cancel")
        )
        return state, cancel

    def outcomes(self, execution_id: str) -> list[Outcome]:
        raw = cast(dict[str, str], self.redis.hgetall(self.key(execution_id, "outcomes")))
        return _split_outcomes(raw)[0]

    def child_finished(self, execution_id: str, outcome: ChildOutcome) -> bool:
        keys = self._keys(execution_id, "meta", "children", "outcomes")
        pipe = self.redis.pipeline(transaction=False)
        self._child(keys=keys, args=[outcome.child, outcome.to_json()], client=pipe)
        pipe.zadd(ACTIVE, {execution_id: time.time()}, xx=True)
        return bool(pipe.execute()[0])

    def checkpoints(self, execution_id: str) -> list[Checkpoint]:
        ids = cast(list[str], self.redis.lrange(self.key(execution_id, "cplist"), 0, -1))
        if not ids:
            return []
        fields = [f for cid in ids for f in (cid, f"{cid}:o")]
        values = cast(
            list[str | None], self.redis.hmget(self.key(execution_id, "checkpoints"), fields)
        )
        out: list[Checkpoint] = []
        for n, cid in enumerate(ids):
            meta, refs = values[2 * n], values[2 * n + 1]
            if meta is None or refs is None:
                continue  # pruned meanwhile
            flat = json.loads(refs)  # HGETALL as a list (an empty one comes back as {})
            pairs = dict(zip(flat[::2], flat[1::2], strict=True)) if isinstance(flat, list) else {}
            out.append(Checkpoint.from_meta(cid, execution_id, json.loads(meta), pairs))
        return out

    def checkpoint_outputs(self, execution_id: str, checkpoint: Checkpoint) -> dict[str, Any]:
        return {n: self._decode(execution_id, f) for n, f in checkpoint.outputs.items()}

    def claims(self, execution_id: str) -> dict[str, Claim]:
        raw = cast(dict[str, str], self.redis.hgetall(self.key(execution_id, "claims")))
        out: dict[str, Claim] = {}
        for node_id, value in raw.items():
            attempt, rest = value.split("|", 1)
            worker, lease = rest.rsplit("|", 1)
            out[node_id] = Claim(int(attempt), worker, float(lease))
        return out

    def dispatched(self, execution_id: str) -> dict[str, Dispatched]:
        raw = cast(dict[str, str], self.redis.hgetall(self.key(execution_id, "attempts")))
        out: dict[str, Dispatched] = {}
        for node_id, value in raw.items():
            attempt, due = value.split("|", 1)
            if due != "done":  # settled attempts are not "dispatched" any more
                out[node_id] = Dispatched(int(attempt), float(due))
        return out

    def _decode(self, execution_id: str, field: str) -> Any:
        if field.startswith("="):
            return json.loads(field[1:])
        blob = cast(str | None, self.redis.hget(self.key(execution_id, "blobs"), field[1:]))
        if blob is None:
            raise KeyError(field)
        return json.loads(blob)

    def output(self, execution_id: str, node_id: str) -> Any:
        field = cast(str | None, self.redis.hget(self.key(execution_id, "outputs"), node_id))
        if field is None:
            raise KeyError(node_id)
        return self._decode(execution_id, field)

    def outputs(self, execution_id: str) -> dict[str, Any]:
        raw = cast(dict[str, str], self.redis.hgetall(self.key(execution_id, "outputs")))
        return {n: self._decode(execution_id, f) for n, f in raw.items()}

    def blob(self, execution_id: str, digest: str) -> Any:
        return self._decode(execution_id, "@" + digest)

    # -- events, cancel, listing --------------------------------------------------------------
    def events(
        self,
        execution_id: str,
        after: str | None = None,
        block: float | None = None,
        count: int = 1000,
    ) -> list[Event]:
        key = self.key(execution_id, "events")
        if block is None:
            if after == "$":  # only events appended after this call: none yet
                return []
            start = "-" if after is None else f"({after}"
            entries = cast(list[Any], self.redis.xrange(key, start, "+", count=count))
        else:
            reply = cast(
                list[Any],
                self.redis.xread(
                    {key: after or "0-0"}, count=count, block=max(1, int(block * 1000))
                ),
            )
            entries = reply[0][1] if reply else []
        out: list[Event] = []
        for cursor, fields in entries:
            data = json.loads(fields["e"])
            data["seq"] = int(fields["seq"])
            out.append(Event.from_dict(data, cursor))
        return out

    def _drive_call(self, execution_id: str, op: str, token: str, ttl: float) -> bool:
        keys = self._keys(execution_id, "drive", "dirty")
        return bool(self._drive(keys=keys, args=[op, token, max(1, int(ttl * 1000))]))

    def begin_drive(self, execution_id: str, token: str, ttl: float) -> bool:
        return self._drive_call(execution_id, "begin", token, ttl)

    def finish_drive(self, execution_id: str, token: str, ttl: float) -> bool:
        return self._drive_call(execution_id, "finish", token, ttl)

    def abort_drive(self, execution_id: str, token: str) -> None:
        self._drive_call(execution_id, "abort", token, 1.0)

    def _flag(self, execution_id: str, field: str, value: str) -> bool:
        """Set a request flag atomically (no stray key if the execution just expired)."""
        done = int(self._set_flag(keys=[self.key(execution_id, "meta")], args=[field, value]))
        if done < 0:
            raise ExecutionError(f"no execution with id {execution_id}")
        return done == 1

    def request_pause(self, execution_id: str, reason: str) -> bool:
        return self._flag(execution_id, "pause", reason)

    def clear_pause(self, execution_id: str) -> bool:
        return bool(self.redis.hdel(self.key(execution_id, "meta"), "pause"))

    def request_cancel(self, execution_id: str, reason: str) -> bool:
        return self._flag(execution_id, "cancel", reason)

    def recent(
        self, state: str | None = None, limit: int = 100, include_children: bool = True
    ) -> list[ExecutionSummary]:
        out: list[ExecutionSummary] = []
        start = 0
        batch = max(limit, 100)
        while len(out) < limit:
            ids = cast(list[str], self.redis.zrevrange(EXECUTIONS, start, start + batch - 1))
            if not ids:
                break
            start += batch
            pipe = self.redis.pipeline(transaction=False)
            for eid in ids:
                pipe.hmget(self.key(eid, "meta"), "state", "created_at", "name", "parent")
            gone = []
            for eid, (st, created, name, parent) in zip(ids, pipe.execute(), strict=True):
                if st is None:
                    gone.append(eid)  # expired (retention): drop it from the index
                    continue
                if parent and not include_children:
                    continue
                if state is None or st == state:
                    out.append(ExecutionSummary(eid, st, float(created), name, parent or None))
            if gone:
                self.redis.zrem(EXECUTIONS, *gone)
        return out[:limit]

    def stalled(self, older_than: float) -> list[str]:
        return cast(list[str], self.redis.zrangebyscore(ACTIVE, "-inf", older_than))

    def forget_stalled(self, execution_id: str) -> None:
        self.redis.zrem(ACTIVE, execution_id)


def _split_outcomes(raw: dict[str, str]) -> tuple[list[Outcome], list[ChildOutcome]]:
    """Node outcomes and finished children from the ``outcomes`` hash."""
    outcomes: list[Outcome] = []
    children: list[ChildOutcome] = []
    for field, value in raw.items():
        text = value.split("|", 1)[1]
        if field.startswith(CHILD_PREFIX):
            children.append(ChildOutcome.from_json(text))
        else:
            outcomes.append(Outcome.from_json(text))
    return outcomes, children


def _appended(
    execution_id: str,
    workflow_id: str,
    commit: Commit,
    record: ExecutionRecord,
    done: list[Any],
) -> list[Event]:
    """The events a commit appended, numbered as the script numbered them."""
    seq, ids, checkpoint_id = int(done[2]), list(done[3]), done[4]
    new = list(commit.events)
    if commit.checkpoint is not None and commit.checkpoint.announce:
        new.append(commit.checkpoint.event(checkpoint_id, record))
    return [
        Event(e.type, execution_id, workflow_id, seq + n, e.timestamp, e.data, cursor)
        for n, (e, cursor) in enumerate(zip(new, ids, strict=True))
    ]


def _idem_key(key: str) -> str:
    return f"oxify:idem:{key}"


def _reset_flag(commit: Commit) -> str:
    if not commit.reset:
        return "0"
    return "1" if commit.deadline is None else f"d{commit.deadline!r}"


if TYPE_CHECKING:  # mypy checks that the class really implements the protocol
    _conforms: StateStore = RedisStore("redis://")
