"""Checkpoints as stores keep them, and the stores of embedded executions.

A checkpoint holds an execution's record (without outputs) and, for every node that has an
output, a reference to it: outputs are stored once, by content hash, and never copied into
a checkpoint. Resume continues an execution from one; replay starts a new execution that
reuses its outputs. Distributed executions keep their checkpoints in Redis, beside the
execution (see :mod:`oxify.store.redis`); the in-process store of embedded executions keeps
them in a :class:`CheckpointStore`: :class:`MemoryCheckpointStore` (the default of
:class:`~oxify.embedded.Engine`) or :class:`FileCheckpointStore` (what the ``oxify`` command
uses, so that a run killed half-way can be resumed by a new process).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from oxify.engine.checkpoints import progress
from oxify.errors import ExecutionError


@dataclass(frozen=True)
class Checkpoint:
    """One checkpoint of one execution. ``outputs`` maps node ids to output references
    (their meaning depends on the store)."""

    id: str
    execution_id: str
    created_at: float
    reason: str
    workflow_hash: str
    record: dict[str, Any]
    outputs: dict[str, str]

    @property
    def state(self) -> str:
        return str(self.record["state"])

    def summary(self) -> dict[str, Any]:
        """What ``oxify checkpoints`` lists."""
        finished, levels = progress(self.record)
        return {
            "id": self.id,
            "created_at": self.created_at,
            "reason": self.reason,
            "state": self.state,
            "finished_nodes": finished,
            "total_nodes": len(self.record["nodes"]),
            "completed_levels": levels,
            "succeeded": sum(1 for r in self.record["nodes"].values() if r["state"] == "succeeded"),
        }

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_meta(
        cls, checkpoint_id: str, execution_id: str, meta: dict[str, Any], outputs: dict[str, str]
    ) -> Checkpoint:
        """A checkpoint as a state store keeps it (see ``CheckpointRequest.meta``)."""
        return cls(
            checkpoint_id,
            execution_id,
            meta["created_at"],
            meta["reason"],
            meta["workflow_hash"],
            meta["record"],
            outputs,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Checkpoint:
        return cls(**data)


@dataclass(frozen=True)
class SavedExecution:
    """What a checkpoint store keeps about an execution besides its checkpoints."""

    execution_id: str
    workflow: dict[str, Any]
    library: dict[str, Any]
    workflow_hash: str
    inputs: dict[str, Any]
    config: dict[str, Any]
    source: str | None = None
    """The workflow file it was started from (``oxify resume`` checks it for changes)."""


class CheckpointStore(Protocol):
    """Where an embedded runner keeps checkpoints."""

    def save_execution(self, saved: SavedExecution) -> None: ...

    def execution(self, execution_id: str) -> SavedExecution:
        """:class:`~oxify.errors.ExecutionError` if the store does not know it."""
        ...

    def save(
        self,
        execution_id: str,
        reason: str,
        created_at: float,
        workflow_hash: str,
        record: dict[str, Any],
        outputs: dict[str, Any],
        keep: int,
    ) -> Checkpoint:
        """Store a checkpoint (and each output once, by hash); keep the newest ``keep``."""
        ...

    def list(self, execution_id: str) -> list[Checkpoint]:
        """Oldest first."""
        ...

    def outputs(self, checkpoint: Checkpoint) -> dict[str, Any]:
        """The outputs a checkpoint points at."""
        ...


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def _by_hash(outputs: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """``(node → sha256, sha256 → JSON)``: each distinct output once, by content."""
    refs: dict[str, str] = {}
    texts: dict[str, str] = {}
    for node_id, value in outputs.items():
        text = _dumps(value)
        refs[node_id] = digest = _digest(text)
        texts[digest] = text
    return refs, texts


def pick(checkpoints: list[Checkpoint], execution_id: str, wanted: str | None) -> Checkpoint:
    """The checkpoint ``wanted`` (an id), or the newest; a clear error if there is none."""
    if not checkpoints:
        raise ExecutionError(
            f"execution {execution_id} has no checkpoints (run it with a "
            "checkpoint_frequency other than 'never')"
        )
    if wanted is None:
        return checkpoints[-1]
    for cp in checkpoints:
        if cp.id == wanted:
            return cp
    known = ", ".join(cp.id for cp in checkpoints)
    raise ExecutionError(f"execution {execution_id} has no checkpoint {wanted} (it has: {known})")


class MemoryCheckpointStore:
    """Checkpoints in this process (the newest ``max_executions`` executions are kept)."""

    def __init__(self, max_executions: int = 1000) -> None:
        self.max_executions = max_executions
        self._executions: OrderedDict[str, SavedExecution] = OrderedDict()
        self._checkpoints: dict[str, list[Checkpoint]] = {}
        self._blobs: dict[str, dict[str, str]] = {}
        self._seq: dict[str, int] = {}
        self._lock = threading.Lock()

    def save_execution(self, saved: SavedExecution) -> None:
        with self._lock:
            self._executions[saved.execution_id] = saved
            self._executions.move_to_end(saved.execution_id)
            while len(self._executions) > self.max_executions:
                old, _ = self._executions.popitem(last=False)
                for table in (self._checkpoints, self._blobs, self._seq):
                    table.pop(old, None)

    def execution(self, execution_id: str) -> SavedExecution:
        with self._lock:
            saved = self._executions.get(execution_id)
        if saved is None:
            raise ExecutionError(f"no saved execution with id {execution_id}")
        return saved

    def save(
        self,
        execution_id: str,
        reason: str,
        created_at: float,
        workflow_hash: str,
        record: dict[str, Any],
        outputs: dict[str, Any],
        keep: int,
    ) -> Checkpoint:
        refs, texts = _by_hash(outputs)
        with self._lock:
            blobs = self._blobs.setdefault(execution_id, {})
            for digest, text in texts.items():
                blobs.setdefault(digest, text)
            seq = self._seq.get(execution_id, 0) + 1
            self._seq[execution_id] = seq
            frozen = json.loads(_dumps(record))  # the caller goes on changing its record
            cp = Checkpoint(str(seq), execution_id, created_at, reason, workflow_hash, frozen, refs)
            kept = self._checkpoints.setdefault(execution_id, [])
            kept.append(cp)
            del kept[: max(0, len(kept) - keep)]
            return cp

    def list(self, execution_id: str) -> list[Checkpoint]:
        with self._lock:
            return list(self._checkpoints.get(execution_id, []))

    def outputs(self, checkpoint: Checkpoint) -> dict[str, Any]:
        with self._lock:
            blobs = self._blobs.get(checkpoint.execution_id, {})
            return {n: json.loads(blobs[d]) for n, d in checkpoint.outputs.items()}


class DiscardCheckpoints:
    """A checkpoint store that keeps nothing (``Engine(checkpoints=None)``)."""

    def save_execution(self, saved: SavedExecution) -> None:
        return None

    def execution(self, execution_id: str) -> SavedExecution:
        raise ExecutionError(f"no saved execution with id {execution_id} (checkpoints=None)")

    def save(
        self,
        execution_id: str,
        reason: str,
        created_at: float,
        workflow_hash: str,
        record: dict[str, Any],
        outputs: dict[str, Any],
        keep: int,
    ) -> Checkpoint:
        return Checkpoint("0", execution_id, created_at, reason, workflow_hash, record, {})

    def list(self, execution_id: str) -> list[Checkpoint]:
        return []

    def outputs(self, checkpoint: Checkpoint) -> dict[str, Any]:
        return {}


class FileCheckpointStore:
    """Checkpoints on disk: ``<root>/<execution id>/`` holds ``execution.json``,
    ``checkpoints/<n>.json`` and ``blobs/<sha256>.json`` (each output once). Files are
    written atomically (temporary file, then rename), so a process killed while saving
    leaves the previous checkpoint intact."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._lock = threading.Lock()

    def _dir(self, execution_id: str) -> Path:
        if not execution_id or "/" in execution_id or execution_id.startswith("."):
            raise ExecutionError(f"bad execution id {execution_id!r}")
        return self.root / execution_id

    @staticmethod
    def _write(path: Path, text: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)

    def save_execution(self, saved: SavedExecution) -> None:
        self._write(self._dir(saved.execution_id) / "execution.json", _dumps(asdict(saved)))

    def execution(self, execution_id: str) -> SavedExecution:
        path = self._dir(execution_id) / "execution.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ExecutionError(
                f"no saved execution with id {execution_id} in {self.root}"
            ) from None
        return SavedExecution(**data)

    def save(
        self,
        execution_id: str,
        reason: str,
        created_at: float,
        workflow_hash: str,
        record: dict[str, Any],
        outputs: dict[str, Any],
        keep: int,
    ) -> Checkpoint:
        base = self._dir(execution_id)
        refs, texts = _by_hash(outputs)
        with self._lock:
            for digest, text in texts.items():
                blob = base / "blobs" / f"{digest}.json"
                if not blob.exists():
                    self._write(blob, text)
            existing = self._ids(execution_id)
            seq = (existing[-1] if existing else 0) + 1
            frozen = json.loads(_dumps(record))  # the caller goes on changing its record
            cp = Checkpoint(str(seq), execution_id, created_at, reason, workflow_hash, frozen, refs)
            self._write(base / "checkpoints" / f"{seq}.json", _dumps(cp.to_dict()))
            for old in [*existing, seq][: max(0, len(existing) + 1 - keep)]:
                (base / "checkpoints" / f"{old}.json").unlink(missing_ok=True)
            return cp

    def _ids(self, execution_id: str) -> list[int]:
        folder = self._dir(execution_id) / "checkpoints"
        if not folder.is_dir():
            return []
        return sorted(int(p.stem) for p in folder.glob("*.json") if p.stem.isdigit())

    def list(self, execution_id: str) -> list[Checkpoint]:
        folder = self._dir(execution_id) / "checkpoints"
        out = []
        for seq in self._ids(execution_id):
            try:
                data = json.loads((folder / f"{seq}.json").read_text(encoding="utf-8"))
            except (FileNotFoundError, ValueError):
                continue  # pruned or being replaced meanwhile
            out.append(Checkpoint.from_dict(data))
        return out

    def prune(self, older_than: float, keep: Callable[[str], bool] | None = None) -> int:
        """Delete the executions not touched since ``older_than`` (seconds since the epoch)
        unless ``keep(execution_id)``; returns how many went."""
        import shutil

        if not self.root.is_dir():
            return 0
        gone = 0
        for folder in self.root.iterdir():
            if not folder.is_dir() or folder.name.startswith("."):
                continue
            try:
                touched = max(p.stat().st_mtime for p in folder.rglob("*.json"))
            except (ValueError, OSError):
                continue  # empty, or being written
            if touched >= older_than or (keep is not None and keep(folder.name)):
                continue
            shutil.rmtree(folder, ignore_errors=True)
            gone += 1
        return gone

    def outputs(self, checkpoint: Checkpoint) -> dict[str, Any]:
        blobs = self._dir(checkpoint.execution_id) / "blobs"
        return {
            n: json.loads((blobs / f"{d}.json").read_text(encoding="utf-8"))
            for n, d in checkpoint.outputs.items()
        }
