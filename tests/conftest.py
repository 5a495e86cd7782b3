"""Shared fixtures.

``runner`` runs a workflow through every body of the engine — embedded (levels, dataflow)
and distributed on real Celery workers and Redis (levels, dataflow) — so the semantics tests
check that all of them agree. The distributed cluster (an orchestrator and a worker started
as subprocesses, a dedicated Redis database that must be empty) starts on first use.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from oxify import Engine, ExecutionResult, Workflow
from oxify.events import Event
from oxify.nodes.registry import NodeRegistry
from tests import plugins
from tests.cluster import TEST_REDIS_URL, Cluster, empty_database


def test_registry() -> NodeRegistry:
    """The default registry plus the test plugins (what the worker processes have)."""
    registry = NodeRegistry.default()
    plugins.register(registry)
    return registry


@dataclass
class Runner:
    """Runs workflows one way (embedded levels, distributed dataflow, ...)."""

    name: str
    mode: str
    distributed: bool = False
    client: Any = field(default=None, repr=False)

    def run(
        self,
        workflow: Workflow,
        inputs: Mapping[str, Any] | None = None,
        *,
        registry: NodeRegistry | None = None,
        events: list[Event] | None = None,
        wait_timeout: float = 60.0,
        **options: Any,
    ) -> ExecutionResult:
        options.setdefault("mode", self.mode)
        if self.distributed:
            assert registry is None, "distributed runs use the workers' registry (tests.plugins)"
            options.pop("max_concurrent_nodes", None)  # worker pools set concurrency
            execution_id = self.client.submit(workflow, inputs or {}, **options)
            result: ExecutionResult = self.client.wait(execution_id, timeout=wait_timeout)
            if events is not None:
                events.extend(self.client.events(execution_id, follow=False))
            return result
        engine = Engine(registry=registry or test_registry())
        callback = events.append if events is not None else None
        return engine.run(workflow, inputs or {}, on_event=callback, **options)

    def embedded_only(self, why: str) -> None:
        if self.distributed:
            pytest.skip(f"embedded mode only: {why}")


RUNNERS = [
    Runner("embedded-levels", "levels"),
    Runner("embedded-dataflow", "dataflow"),
    Runner("distributed-levels", "levels", distributed=True),
    Runner("distributed-dataflow", "dataflow", distributed=True),
]


@pytest.fixture(scope="session")
def redis_db() -> Iterator[Any]:
    """The test Redis database: refused if it is not empty; emptied at the end."""
    client = empty_database(TEST_REDIS_URL)
    yield client
    client.flushdb()


@pytest.fixture(scope="session")
def cluster(redis_db: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """An orchestrator and a control-pool worker, started once per test session."""
    c = Cluster(log_dir=tmp_path_factory.mktemp("cluster"))
    c.start("orchestrator", "orchestrator", "--concurrency", "4")
    c.start("control", "worker", "--pool", "control", "--concurrency", "8")
    try:
        c.wait_ready(["orchestrator", "control"])
        yield c
    finally:
        c.stop()


@pytest.fixture(scope="session")
def client(cluster: Cluster) -> Any:
    from oxify.client import Client

    return Client(cluster.url)


@pytest.fixture(params=RUNNERS, ids=[r.name for r in RUNNERS])
def runner(request: pytest.FixtureRequest) -> Runner:
    template: Runner = request.param
    if not template.distributed:
        return template
    return Runner(template.name, template.mode, True, request.getfixturevalue("client"))
