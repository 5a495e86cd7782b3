"""Shared fixtures.

``runner`` runs a workflow through every body of the engine — embedded (levels, dataflow)
and distributed on real Celery workers and Redis (levels, dataflow) — so the semantics tests
check that all of them agree. The distributed cluster (an orchestrator and a worker started
as subprocesses, a dedicated Redis database that must be empty) starts on first use.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from oxify import Engine, ExecutionResult, Workflow
from oxify.errors import ExecutionError
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
    _engine: Engine | None = field(default=None, repr=False)
    _handles: dict[str, Any] = field(default_factory=dict, repr=False)

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

    # -- executions that outlive one call (pause, resume, replay) ---------------------------
    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = Engine(registry=test_registry())
        return self._engine

    def start(
        self, workflow: Workflow, inputs: Mapping[str, Any] | None = None, **options: Any
    ) -> str:
        """Start an execution in the background; returns its id."""
        options.setdefault("mode", self.mode)
        if self.distributed:
            options.pop("max_concurrent_nodes", None)
            return str(self.client.submit(workflow, inputs or {}, **options))
        execution = self.engine.start(workflow, inputs or {}, **options)
        self._handles[execution.id] = execution
        return execution.id

    def wait(self, execution_id: str, timeout: float = 60.0) -> ExecutionResult:
        if self.distributed:
            result: ExecutionResult = self.client.wait(execution_id, timeout=timeout)
            return result
        handle = self._handles.get(execution_id)
        if handle is not None:
            return handle.wait(timeout)
        deadline = time.monotonic() + timeout  # a child execution: no handle
        while True:
            try:
                return self.engine.result(execution_id)
            except ExecutionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def state(self, execution_id: str) -> str:
        if self.distributed:
            return str(self.client.get(execution_id).state.value)
        return self._handles[execution_id].state.value

    def events(self, execution_id: str) -> list[Event]:
        if self.distributed:
            return list(self.client.events(execution_id, follow=False))
        return self._handles[execution_id].event_log

    def cancel(self, execution_id: str) -> None:
        if self.distributed:
            self.client.cancel(execution_id)
        else:
            self._handles[execution_id].cancel()

    def pause(self, execution_id: str) -> None:
        if self.distributed:
            self.client.pause(execution_id)
        else:
            self._handles[execution_id].pause()

    def resume(self, execution_id: str, **options: Any) -> None:
        if self.distributed:
            self.client.resume(execution_id, **options)
        else:
            self._handles[execution_id] = self.engine.resume(execution_id, **options)

    def replay(
        self,
        execution_id: str,
        from_node: str,
        inputs: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> str:
        if self.distributed:
            return str(self.client.replay(execution_id, from_node, inputs, **options))
        execution = self.engine.replay(execution_id, from_node, inputs, **options)
        self._handles[execution.id] = execution
        return execution.id

    def checkpoints(self, execution_id: str) -> list[dict[str, Any]]:
        if self.distributed:
            return list(self.client.checkpoints(execution_id))
        return self.engine.checkpoint_list(execution_id)

    def embedded_only(self, why: str) -> None:
        if self.distributed:
            pytest.skip(f"embedded mode only: {why}")


RUNNERS = [
    Runner("embedded-levels", "levels"),
    Runner("embedded-dataflow", "dataflow"),
    Runner("distributed-levels", "levels", distributed=True),
    Runner("distributed-dataflow", "dataflow", distributed=True),
]


@pytest.fixture(scope="session", autouse=True)
def _state_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Embedded executions the ``oxify`` command keeps go to a scratch directory."""
    import os

    old = os.environ.get("OXIFY_STATE_DIR")
    os.environ["OXIFY_STATE_DIR"] = str(tmp_path_factory.mktemp("oxify-state"))
    yield
    if old is None:
        os.environ.pop("OXIFY_STATE_DIR", None)
    else:
        os.environ["OXIFY_STATE_DIR"] = old


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
        return Runner(template.name, template.mode)
    return Runner(template.name, template.mode, True, request.getfixturevalue("client"))
