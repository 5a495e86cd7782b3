"""Shared fixtures. ``runner`` runs a workflow through every body of the engine, so the
semantics tests check that all of them agree (distributed mode joins with its issue)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from oxify import Engine, ExecutionResult, Workflow
from oxify.events import Event
from oxify.nodes.registry import NodeRegistry


@dataclass
class Runner:
    """Runs workflows one way (embedded levels, embedded dataflow, ...)."""

    name: str
    mode: str

    def run(
        self,
        workflow: Workflow,
        inputs: Mapping[str, Any] | None = None,
        *,
        registry: NodeRegistry | None = None,
        events: list[Event] | None = None,
        **options: Any,
    ) -> ExecutionResult:
        engine = Engine(registry=registry or NodeRegistry.default())
        options.setdefault("mode", self.mode)
        callback = events.append if events is not None else None
        return engine.run(workflow, inputs or {}, on_event=callback, **options)


RUNNERS = [Runner("embedded-levels", "levels"), Runner("embedded-dataflow", "dataflow")]


@pytest.fixture(params=RUNNERS, ids=[r.name for r in RUNNERS])
def runner(request: pytest.FixtureRequest) -> Runner:
    runner: Runner = request.param
    return runner
