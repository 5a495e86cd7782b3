"""Execution options: how one execution runs (both runners read the same options)."""

from __future__ import annotations

import re
from typing import Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field, field_validator

from oxify.errors import ConfigError

_CHECKPOINT = re.compile(r"^(never|every_level|every_n_levels:[1-9]\d*|every_n_nodes:[1-9]\d*)$")

DEFAULT_MAX_CONCURRENT_NODES = 32


class ExecutionConfig(BaseModel):
    """How to run an execution. All durations are seconds.

    - ``mode``: ``"levels"`` runs DAG level N entirely before level N+1; ``"dataflow"`` starts
      each node as soon as its own dependencies are done.
    - ``max_concurrent_nodes``: nodes running at once, and child executions a composite
      node runs at once (embedded mode: its thread budget).
    - ``timeout``: limit for the whole execution; ``node_timeout``: per-attempt limit for nodes
      without a ``timeout_config``.
    - ``continue_on_error``: a failed node does not fail the run; its dependents are skipped.
    - ``on_upstream_failure`` (with ``continue_on_error``): what happens to the dependents of a
      failed node: ``skip`` them, ``execute_with_defaults`` (the failed node's
      ``default_output`` stands in for its output), or ``fail_immediately`` (the execution
      fails as soon as one of them would run).
    - ``checkpoint_frequency``: ``never``, ``every_level``, ``every_n_levels:N`` or
      ``every_n_nodes:N``; ``max_checkpoints``: how many an execution keeps (oldest pruned).
    - ``max_depth``: how deep sub-workflows may nest (recursion stops there, clearly).
    - ``seed``: seeds the retry jitter (for reproducible tests).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Literal["levels", "dataflow"] = "levels"
    max_concurrent_nodes: int = Field(default=DEFAULT_MAX_CONCURRENT_NODES, ge=1, le=10_000)
    timeout: float | None = Field(default=None, gt=0)
    node_timeout: float | None = Field(default=None, gt=0)
    continue_on_error: bool = False
    on_upstream_failure: Literal["skip", "execute_with_defaults", "fail_immediately"] = "skip"
    checkpoint_frequency: str = "never"
    max_checkpoints: int = Field(default=10, ge=1, le=10_000)
    max_depth: int = Field(default=16, ge=1, le=1000)
    seed: int | None = None

    def for_child(self) -> ExecutionConfig:
        """The options of a child execution (Loop iteration, sub-workflow, ...): the same,
        without the whole-execution time limit (the parent's covers it) and checkpoints."""
        return self.model_copy(update={"timeout": None, "checkpoint_frequency": "never"})

    @field_validator("checkpoint_frequency")
    @classmethod
    def _check_frequency(cls, value: str) -> str:
        if not _CHECKPOINT.match(value):
            raise ValueError(
                "must be never, every_level, every_n_levels:N or every_n_nodes:N (N >= 1)"
            )
        return value

    @classmethod
    def make(cls, **options: Any) -> ExecutionConfig:
        """Build from keyword arguments; a bad option raises :class:`ConfigError`."""
        try:
            return cls(**options)
        except pydantic.ValidationError as e:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'config'}: {err['msg']}"
                for err in e.errors()
            )
            raise ConfigError(f"invalid execution config: {problems}") from None
