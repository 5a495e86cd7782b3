"""The embedded body: :class:`Engine` runs workflows in this process.

It is the one runtime (:mod:`oxify.runtime`) over the in-process store and a thread-pool
dispatcher: the same driver, node runner, composites, checkpoints, resume and replay as
distributed mode, with no Redis and no workers — for development, tests and small jobs.
``Engine.run()`` returns an execution's result; ``Engine.start()`` returns an
:class:`~oxify.embedded.execution.Execution` handle (``wait``, ``cancel``, ``pause``,
``resume``, ``events``).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oxify.embedded.delivery import EventCallback, OrderedDelivery
from oxify.embedded.execution import Execution
from oxify.embedded.threads import ThreadDispatcher
from oxify.engine.loading import load_definition, load_workflow
from oxify.engine.options import ExecutionConfig
from oxify.engine.plan import Plan, PlanCache
from oxify.engine.results import ExecutionResult
from oxify.engine.state import ExecutionState
from oxify.engine.validate import ValidationReport, ensure_valid, validate
from oxify.errors import ConfigError, ExecutionError
from oxify.model.definition import Definition
from oxify.model.workflow import Workflow
from oxify.nodes.registry import NodeRegistry
from oxify.runtime.hooks import Hooks
from oxify.runtime.runtime import Runtime, RuntimeOptions
from oxify.store.checkpoints import CheckpointStore, DiscardCheckpoints, MemoryCheckpointStore
from oxify.store.memory import MemoryStore

__all__ = ["Engine", "Execution"]

WorkflowSource = Workflow | Definition | str | Path
KEEP_FINISHED = 1000
"""Finished executions an engine keeps (their results, events and child executions)."""


@dataclass
class Engine:
    """Runs workflows in-process.

    ``checkpoints`` keeps executions and their checkpoints for :meth:`resume` and
    :meth:`replay` (in memory by default; a :class:`~oxify.store.checkpoints.
    FileCheckpointStore` survives the process; ``None`` keeps nothing).

    >>> engine = Engine()
    >>> result = engine.run("examples/diamond.json", {"x": 2})  # doctest: +SKIP
    """

    registry: NodeRegistry = field(default_factory=NodeRegistry.default)
    hooks: Hooks = field(default_factory=Hooks)
    plan_cache_size: int = 100
    checkpoints: CheckpointStore | None = field(default_factory=MemoryCheckpointStore)

    def __post_init__(self) -> None:
        self.plans = PlanCache(self.plan_cache_size)
        sink = self.checkpoints if self.checkpoints is not None else DiscardCheckpoints()
        self.store = MemoryStore(sink, keep_finished=KEEP_FINISHED)
        self.dispatcher = ThreadDispatcher()
        self.delivery = OrderedDelivery(self.store, self.hooks, on_end=self.dispatcher.forget)
        options = RuntimeOptions(
            result_ttl=None,
            cap_children=True,
            keep_final_checkpoint=self.checkpoints is not None,
            inline_executors=True,
        )
        self.runtime = Runtime(
            self.store,
            self.dispatcher,
            self.registry,
            hooks=self.hooks,
            events=self.delivery,
            options=options,
            supervision=self.dispatcher,
        )
        self.dispatcher.bind(self.runtime)

    # -- workflows --------------------------------------------------------------------------
    def validate(self, workflow: Workflow | str | Path) -> ValidationReport:
        """Every problem of a workflow (errors and warnings), without running it."""
        return validate(_root(workflow))

    def plan(self, workflow: Workflow | str | Path) -> Plan:
        """Validate (raising :class:`~oxify.errors.ValidationError`) and plan, with caching."""
        wf = _root(workflow)
        if wf in self.plans:
            return self.plans.get(wf)
        ensure_valid(wf)
        return self.plans.get(wf)

    # -- executions -------------------------------------------------------------------------
    def start(
        self,
        workflow: WorkflowSource,
        inputs: Mapping[str, Any] | None = None,
        config: ExecutionConfig | None = None,
        *,
        execution_id: str | None = None,
        on_event: EventCallback | None = None,
        base_dir: str | Path | None = None,
        **options: Any,
    ) -> Execution:
        """Start an execution (it runs on this engine's threads) and return its handle.

        Options may be given as an :class:`ExecutionConfig` or as keyword arguments
        (``mode="dataflow"``, ``max_concurrent_nodes=4``, ...). Sub-workflow paths are
        relative to ``base_dir`` (default: the workflow file's directory).
        """
        if config is not None and options:
            raise ConfigError("pass either config= or keyword options, not both")
        cfg = config if config is not None else ExecutionConfig.make(**options)
        definition = _definition(workflow, base_dir)
        eid = execution_id or str(uuid.uuid4())
        if self.store.exists(eid):
            raise ExecutionError(f"execution {eid} exists already")
        self.delivery.follow(eid, on_event)
        self.runtime.producer.submit(definition, inputs, cfg, execution_id=eid)
        return Execution(self, eid)

    def run(
        self,
        workflow: WorkflowSource,
        inputs: Mapping[str, Any] | None = None,
        config: ExecutionConfig | None = None,
        *,
        execution_id: str | None = None,
        on_event: EventCallback | None = None,
        base_dir: str | Path | None = None,
        **options: Any,
    ) -> ExecutionResult:
        """Run a workflow to its end and return the result (Ctrl-C cancels it)."""
        execution = self.start(
            workflow,
            inputs,
            config,
            execution_id=execution_id,
            on_event=on_event,
            base_dir=base_dir,
            **options,
        )
        try:
            return execution.wait()
        except KeyboardInterrupt:
            execution.cancel("interrupted")
            return execution.wait()

    def get(self, execution_id: str) -> Execution:
        """A running execution of this engine."""
        state, _ = self.store.status(execution_id)
        if state is None or ExecutionState(state).terminal:
            raise ExecutionError(f"no running execution with id {execution_id}")
        return Execution(self, execution_id)

    def result(self, execution_id: str) -> ExecutionResult:
        """The result of a finished execution (the newest 1,000 are kept), child
        executions of composite nodes included."""
        state, _ = self.store.status(execution_id)
        if state is None or not ExecutionState(state).terminal:
            known = "still running" if state is not None else "unknown to this engine"
            raise ExecutionError(f"execution {execution_id} is {known}")
        return self.runtime.producer.result(execution_id)

    def cancel(self, execution_id: str) -> None:
        """Cancel a running execution of this engine (and its child executions)."""
        self.get(execution_id).cancel()

    def pause(self, execution_id: str) -> None:
        """Pause a running execution: no new node starts until :meth:`resume`."""
        self.get(execution_id).pause()

    def resume(
        self,
        execution_id: str,
        *,
        checkpoint: str | None = None,
        workflow: WorkflowSource | None = None,
        allow_changed: bool = False,
        on_event: EventCallback | None = None,
        base_dir: str | Path | None = None,
    ) -> Execution:
        """Resume an execution: a paused one goes on; a failed, cancelled or interrupted one
        (in this process or in one that ended) continues from its newest checkpoint (or
        ``checkpoint``), in the background.

        With ``workflow`` (say, the file fixed since), its definition must be the one the
        execution is pinned to, unless ``allow_changed``: then changed nodes run again.
        """
        self._known(execution_id)
        state, _ = self.store.status(execution_id)
        plain = checkpoint is None and workflow is None
        if state is not None and not ExecutionState(state).terminal and not plain:
            raise ExecutionError(
                f"execution {execution_id} is {state}: cancel it first to restart it from a "
                "checkpoint"
            )
        definition = None if workflow is None else _definition(workflow, base_dir)
        seen = self.store.events(execution_id, count=1 << 40)  # the events of the run before
        self.delivery.follow(execution_id, on_event, seen[-1].cursor if seen else None)
        self.runtime.producer.resume(
            execution_id,
            checkpoint=checkpoint,
            definition=definition,
            allow_changed=allow_changed,
        )
        return Execution(self, execution_id)

    def replay(
        self,
        execution_id: str,
        from_node: str,
        inputs: Mapping[str, Any] | None = None,
        *,
        checkpoint: str | None = None,
        workflow: WorkflowSource | None = None,
        allow_changed: bool = False,
        new_execution_id: str | None = None,
        on_event: EventCallback | None = None,
        base_dir: str | Path | None = None,
    ) -> Execution:
        """Start a new execution that reuses the recorded outputs of every node not
        downstream of ``from_node`` (id or name) and runs ``from_node`` and everything
        downstream of it again. ``inputs`` update the recorded inputs."""
        self._known(execution_id)
        definition = None if workflow is None else _definition(workflow, base_dir)
        new_id = new_execution_id or str(uuid.uuid4())
        self.delivery.follow(new_id, on_event)
        self.runtime.producer.replay(
            execution_id,
            from_node,
            inputs,
            checkpoint=checkpoint,
            definition=definition,
            allow_changed=allow_changed,
            new_execution_id=new_id,
        )
        return Execution(self, new_id)

    def checkpoint_list(self, execution_id: str) -> list[dict[str, Any]]:
        """Summaries of an execution's checkpoints, oldest first."""
        if self.checkpoints is None:
            raise ExecutionError("this engine keeps no checkpoints (checkpoints=None)")
        return [cp.summary() for cp in self.store.checkpoints(execution_id)]

    def _known(self, execution_id: str) -> None:
        """Bring an execution another process ran back from the checkpoint store."""
        if self.checkpoints is None and not self.store.exists(execution_id):
            raise ExecutionError("this engine keeps no checkpoints (checkpoints=None)")
        self.store.restore(execution_id)


def _root(workflow: WorkflowSource) -> Workflow:
    if isinstance(workflow, Definition):
        return workflow.workflow
    return workflow if isinstance(workflow, Workflow) else load_workflow(workflow)


def _definition(workflow: WorkflowSource, base_dir: str | Path | None) -> Definition:
    if isinstance(workflow, Definition):
        return workflow
    return load_definition(workflow, base_dir)
