"""When to take checkpoints: an execution's ``checkpoint_frequency``, parsed.

``never``, ``every_level``, ``every_n_levels:N`` or ``every_n_nodes:N``; a checkpoint is
also taken when an execution pauses, fails, is cancelled or finishes (unless ``never``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from oxify.engine.state import ExecutionRecord


@dataclass(frozen=True)
class CheckpointPolicy:
    """Parsed ``checkpoint_frequency``."""

    every_levels: int | None = None
    every_nodes: int | None = None

    @classmethod
    def parse(cls, frequency: str) -> CheckpointPolicy:
        if frequency == "never":
            return cls()
        if frequency == "every_level":
            return cls(every_levels=1)
        name, _, n = frequency.partition(":")
        if name == "every_n_levels":
            return cls(every_levels=int(n))
        if name == "every_n_nodes":
            return cls(every_nodes=int(n))
        raise ValueError(f"unknown checkpoint frequency {frequency!r}")

    @property
    def enabled(self) -> bool:
        return self.every_levels is not None or self.every_nodes is not None

    def due(self, before: tuple[int, int], after: tuple[int, int]) -> bool:
        """Whether progress from ``before`` to ``after`` (finished nodes, completed levels)
        crossed a checkpoint boundary."""
        (nodes0, levels0), (nodes1, levels1) = before, after
        if self.every_nodes is not None and nodes1 // self.every_nodes > nodes0 // self.every_nodes:
            return True
        if self.every_levels is not None:
            return levels1 // self.every_levels > levels0 // self.every_levels
        return False


def progress(record: ExecutionRecord | Mapping[str, Any]) -> tuple[int, int]:
    """``(finished nodes, completed levels)`` of a record, or of its plain-data form."""
    if isinstance(record, ExecutionRecord):
        finished, remaining = record.finished_count, record.level_remaining
    else:
        finished, remaining = int(record["finished_count"]), record["level_remaining"]
    return finished, sum(1 for n in remaining if n == 0)


@lru_cache(maxsize=64)
def checkpoint_policy(frequency: str) -> CheckpointPolicy:
    """:meth:`CheckpointPolicy.parse`, once per frequency."""
    return CheckpointPolicy.parse(frequency)
