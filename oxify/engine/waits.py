"""A composite node's wait for its child executions, as its node record keeps it.

A composite node (Loop, TryCatch, SubWorkflow, Parallel) that runs child executions is
``waiting`` meanwhile, with a :class:`Wait`: the children of its current spawn (each a
:class:`ChildEntry`), when the wait is over (``until``), how many may run at once, and the
deadlines that apply. The logic that moves a wait on is :mod:`oxify.nodes.composite`.

Waits and entries are never changed in place once stored: a step works on
:meth:`Wait.copy` and replaces entries (:meth:`Wait.update`), so a snapshot never sees
another step's changes and an event costs pointer copies, not copies of every entry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

Until = Literal["all", "all_ok", "first_ok"]
"""When a wait is over: every child finished; every child succeeded or one failed (the rest
are cancelled); or one child succeeded (the rest are cancelled) or all failed."""

ChildStatus = Literal[
    "pending", "running", "completed", "failed", "cancelled", "timed_out", "not_started"
]
FINISHED: frozenset[str] = frozenset(
    {"completed", "failed", "cancelled", "timed_out", "not_started"}
)


@dataclass(frozen=True, slots=True)
class ChildEntry:
    """One child execution of a wait: its id, the sub-workflow it runs (a reference, see
    :mod:`oxify.model.definition`), its inputs, and how it is doing."""

    id: str
    label: str
    ref: str
    inputs: dict[str, Any]
    status: ChildStatus = "pending"
    output: Any = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "label": self.label,
            "ref": self.ref,
            "inputs": self.inputs,
            "status": self.status,
            "output": self.output,
            "error": self.error,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ChildEntry:
        return cls(
            data["id"],
            data.get("label", ""),
            data.get("ref", ""),
            dict(data.get("inputs") or {}),
            data.get("status", "pending"),
            data.get("output"),
            data.get("error"),
        )


@dataclass(slots=True)
class Wait:
    """A composite node's wait for its children, kept in its node record."""

    seq: int
    state: Any
    until: Until
    max_concurrency: int | None
    deadline: float | None
    children: list[ChildEntry]
    node_deadline: float | None = None
    """When the node's own ``timeout_config`` runs out (kept across spawns)."""

    def copy(self) -> Wait:
        """A copy to change (entries are shared: they are replaced, never changed)."""
        return replace(self, children=list(self.children))

    def next_deadline(self) -> float | None:
        """The earliest of the spawn's and the node's deadline."""
        due = [t for t in (self.deadline, self.node_deadline) if t is not None]
        return min(due) if due else None

    def index(self, child_id: str) -> int | None:
        return next((i for i, c in enumerate(self.children) if c.id == child_id), None)

    def update(self, i: int, **changes: Any) -> ChildEntry:
        """Replace child ``i``'s entry by a changed copy; the new entry."""
        entry = replace(self.children[i], **changes)
        self.children[i] = entry
        return entry

    def running(self) -> list[ChildEntry]:
        return [c for c in self.children if c.status == "running"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "state": self.state,
            "until": self.until,
            "max_concurrency": self.max_concurrency,
            "deadline": self.deadline,
            "children": [c.to_dict() for c in self.children],
            "node_deadline": self.node_deadline,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Wait:
        return cls(
            seq=data["seq"],
            state=data.get("state"),
            until=data.get("until", "all"),
            max_concurrency=data.get("max_concurrency"),
            deadline=data.get("deadline"),
            children=[ChildEntry.from_dict(c) for c in data["children"]],
            node_deadline=data.get("node_deadline"),
        )
