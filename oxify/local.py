"""The embedded runner's public face: :class:`Engine` runs workflows in-process.

``Engine.run()`` drives an execution on the calling thread and returns its result;
``Engine.start()`` drives it on a background thread and returns an
:class:`~oxify.embedded.Execution` handle (``wait``, ``cancel``, ``pause``, ``resume``,
``events``). Checkpoints go to the engine's checkpoint store, from which ``Engine.resume``
and ``Engine.replay`` start again. No Redis, no workers: for development, tests, small jobs.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oxify import events as ev
from oxify.checkpoints import (
    Checkpoint,
    CheckpointStore,
    MemoryCheckpointStore,
    SavedExecution,
    pick,
)
from oxify.definition import Definition, load_definition
from oxify.durable import check_pinned, count_afresh, find_node, rebuild, same_definition
from oxify.embedded import EventCallback, Execution, WorkflowSource, _Origin
from oxify.engine.describe import workflow_started
from oxify.engine.machine import Machine
from oxify.engine.plan import Plan, PlanCache
from oxify.engine.state import ExecutionRecord, ExecutionState
from oxify.engine.validate import ValidationReport, ensure_valid, validate
from oxify.errors import ConfigError, ExecutionError
from oxify.execution import ExecutionConfig, ExecutionResult, json_inputs, make_machine
from oxify.hooks import Hooks
from oxify.model.io import load_workflow, parse_workflow, workflow_to_data
from oxify.model.workflow import Workflow
from oxify.nodes.registry import NodeRegistry

__all__ = ["Engine", "Execution"]


@dataclass
class Engine:
    """Runs workflows in-process.

    ``checkpoints`` keeps executions and their checkpoints for :meth:`resume` and
    :meth:`replay` (in memory by default; a :class:`~oxify.checkpoints.FileCheckpointStore`
    survives the process; ``None`` keeps nothing).

    >>> engine = Engine()
    >>> result = engine.run("examples/diamond.json", {"x": 2})  # doctest: +SKIP
    """

    registry: NodeRegistry = field(default_factory=NodeRegistry.default)
    hooks: Hooks = field(default_factory=Hooks)
    plan_cache_size: int = 100
    checkpoints: CheckpointStore | None = field(default_factory=MemoryCheckpointStore)

    def __post_init__(self) -> None:
        self.plans = PlanCache(self.plan_cache_size)
        self._executions: dict[str, Execution] = {}
        self._results: OrderedDict[str, ExecutionResult] = OrderedDict()
        self._lock = threading.Lock()

    def result(self, execution_id: str) -> ExecutionResult:
        """The result of a finished execution (the newest 1,000 are kept), child
        executions of composite nodes included."""
        with self._lock:
            result = self._results.get(execution_id)
            running = execution_id in self._executions
        if result is None:
            state = "still running" if running else "unknown to this engine"
            raise ExecutionError(f"execution {execution_id} is {state}")
        return result

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
        """Start an execution on a background thread and return its handle.

        Options may be given as an :class:`ExecutionConfig` or as keyword arguments
        (``mode="dataflow"``, ``max_concurrent_nodes=4``, ...). Sub-workflow paths are
        relative to ``base_dir`` (default: the workflow file's directory).
        """
        execution = self._prepare(
            workflow, inputs, config, execution_id, on_event, options, base_dir
        )
        self._launch(execution)
        return execution

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
        """Run a workflow to its end on the calling thread and return the result."""
        execution = self._prepare(
            workflow, inputs, config, execution_id, on_event, options, base_dir
        )
        return execution._drive()

    def get(self, execution_id: str) -> Execution:
        """A running execution of this engine."""
        with self._lock:
            execution = self._executions.get(execution_id)
        if execution is None:
            raise ExecutionError(f"no running execution with id {execution_id}")
        return execution

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
        continues from its newest checkpoint (or ``checkpoint``), in the background.

        With ``workflow`` (say, the file fixed since), its definition must be the one the
        execution is pinned to, unless ``allow_changed``: then changed nodes run again.
        """
        with self._lock:
            running = self._executions.get(execution_id)
        if running is not None:
            if running.record.state is not ExecutionState.PAUSED and checkpoint is None:
                raise ExecutionError(f"execution {execution_id} is running, not paused")
            running.resume()
            return running
        restored = self._restore(execution_id, checkpoint, workflow, allow_changed, base_dir)
        saved, cp, definition, cfg = (
            restored.saved,
            restored.checkpoint,
            restored.definition,
            restored.config,
        )
        if cp.state == ExecutionState.COMPLETED.value:
            raise ExecutionError(
                f"execution {execution_id} completed: there is nothing to resume "
                "(replay runs parts of it again)"
            )
        newest = restored.store.list(execution_id)[-1]
        record, changed = restored.rebuild(execution_id, saved.inputs, newest.record)
        if definition.hash != saved.workflow_hash:
            restored.store.save_execution(_saved(execution_id, definition, saved.inputs, cfg))
        event = (ev.WORKFLOW_RESUMED, {"checkpoint_id": cp.id, "rerun": sorted(changed)})
        origin = _Origin(record, frozenset(changed), event)
        return self._begin(restored, saved.inputs, execution_id, origin, on_event)

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
        restored = self._restore(execution_id, checkpoint, workflow, allow_changed, base_dir)
        definition, cfg = restored.definition, restored.config
        start_at = find_node(definition.workflow, from_node)
        new_inputs = json_inputs({**restored.saved.inputs, **dict(inputs or {})})
        eid = new_execution_id or str(uuid.uuid4())
        record, changed = restored.rebuild(eid, new_inputs)
        record.started_at = None
        count_afresh(restored.machine, record, changed | {start_at})
        restored.store.save_execution(_saved(eid, definition, new_inputs, cfg))
        event = workflow_started(definition.workflow, cfg.mode)
        data = {**event[1], "replay_of": execution_id, "from_node": start_at}
        origin = _Origin(record, frozenset(changed | {start_at}), (event[0], data))
        return self._begin(restored, new_inputs, eid, origin, on_event)

    def checkpoint_list(self, execution_id: str) -> list[dict[str, Any]]:
        """Summaries of an execution's checkpoints, oldest first."""
        return [cp.summary() for cp in self._store().list(execution_id)]

    # -- internals ---------------------------------------------------------------------------
    def _restore(
        self,
        execution_id: str,
        checkpoint: str | None,
        workflow: WorkflowSource | None,
        allow_changed: bool,
        base_dir: str | Path | None,
    ) -> _Restored:
        """What resume and replay start from: the saved execution, the checkpoint, and
        the definition to go on with (the pinned one, or a changed one if allowed)."""
        store = self._store()
        saved = store.execution(execution_id)
        cp = pick(store.list(execution_id), execution_id, checkpoint)
        same_definition(execution_id, cp.id, cp.workflow_hash, saved.workflow_hash)
        stored = Definition.from_data(parse_workflow(saved.workflow), saved.library)
        definition = stored
        if workflow is not None:
            definition = self._definition(workflow, base_dir)
            check_pinned(execution_id, saved.workflow_hash, definition, allow_changed)
        cfg = ExecutionConfig(**saved.config)
        plan = self.plan(definition.workflow)
        machine = make_machine(definition.workflow, plan, cfg)
        return _Restored(store, saved, cp, stored, definition, cfg, plan, machine)

    def _begin(
        self,
        restored: _Restored,
        inputs: dict[str, Any],
        execution_id: str,
        origin: _Origin,
        on_event: EventCallback | None,
    ) -> Execution:
        execution = Execution(
            self,
            restored.definition,
            restored.plan,
            inputs,
            restored.config,
            execution_id,
            on_event,
            origin=origin,
            checkpoints=restored.store,
        )
        self._register(execution)
        self._launch(execution)
        return execution

    def _store(self) -> CheckpointStore:
        if self.checkpoints is None:
            raise ExecutionError("this engine keeps no checkpoints (checkpoints=None)")
        return self.checkpoints

    def _launch(self, execution: Execution) -> None:
        thread = threading.Thread(
            target=execution._drive, name=f"oxify-exec-{execution.id[:8]}", daemon=True
        )
        thread.start()

    def _register(self, execution: Execution) -> None:
        with self._lock:
            if execution.id in self._executions:
                raise ExecutionError(f"execution {execution.id} is already running")
            self._executions[execution.id] = execution

    def _prepare(
        self,
        workflow: WorkflowSource,
        inputs: Mapping[str, Any] | None,
        config: ExecutionConfig | None,
        execution_id: str | None,
        on_event: EventCallback | None,
        options: dict[str, Any],
        base_dir: str | Path | None = None,
    ) -> Execution:
        if config is not None and options:
            raise ConfigError("pass either config= or keyword options, not both")
        cfg = config if config is not None else ExecutionConfig.make(**options)
        definition = self._definition(workflow, base_dir)
        plan = self.plan(definition.workflow)
        clean_inputs = json_inputs(inputs)
        eid = execution_id or str(uuid.uuid4())
        store = self.checkpoints
        execution = Execution(
            self, definition, plan, clean_inputs, cfg, eid, on_event, checkpoints=store
        )
        self._register(execution)
        if store is not None:
            store.save_execution(_saved(eid, definition, clean_inputs, cfg))
        return execution

    def _start_child(
        self,
        definition: Definition,
        inputs: dict[str, Any],
        config: ExecutionConfig,
        execution_id: str,
        parent: dict[str, Any],
        depth: int,
        on_done: Callable[[ExecutionResult], None],
        paused: bool = False,
    ) -> None:
        plan = self.plan(definition.workflow)
        execution = Execution(
            self,
            definition,
            plan,
            json_inputs(inputs),
            config,
            execution_id,
            None,
            parent=parent,
            depth=depth,
            on_done=on_done,
            start_paused=paused,
        )
        self._register(execution)
        self._launch(execution)

    def _signal_child(self, execution_id: str, what: str) -> None:
        """Cancel, pause or resume a child execution with its parent."""
        with self._lock:
            execution = self._executions.get(execution_id)
        if execution is None:
            return
        if what == "cancel":
            execution.cancel("parent cancelled it")
        elif what == "pause":
            execution.pause("parent paused")
        else:
            execution.resume()

    def _forget(self, execution_id: str, result: ExecutionResult) -> None:
        with self._lock:
            self._executions.pop(execution_id, None)
            self._results[execution_id] = result
            while len(self._results) > 1000:
                self._results.popitem(last=False)

    @staticmethod
    def _definition(workflow: WorkflowSource, base_dir: str | Path | None) -> Definition:
        if isinstance(workflow, Definition):
            return workflow
        return load_definition(workflow, base_dir)


@dataclass(frozen=True)
class _Restored:
    """A saved execution and checkpoint, ready to resume or replay."""

    store: CheckpointStore
    saved: SavedExecution
    checkpoint: Checkpoint
    stored: Definition
    """The definition the execution is pinned to."""
    definition: Definition
    """The definition to go on with (``stored``, or a changed one)."""
    config: ExecutionConfig
    plan: Plan
    machine: Machine

    def rebuild(
        self, execution_id: str, inputs: dict[str, Any], latest: dict[str, Any] | None = None
    ) -> tuple[ExecutionRecord, set[str]]:
        """The record to restart (see :func:`oxify.durable.rebuild`)."""
        outputs = self.store.outputs(self.checkpoint)
        return rebuild(
            self.machine,
            execution_id,
            self.stored.workflow,
            self.checkpoint.record,
            outputs,
            inputs,
            latest,
        )


def _root(workflow: WorkflowSource) -> Workflow:
    if isinstance(workflow, Definition):
        return workflow.workflow
    return workflow if isinstance(workflow, Workflow) else load_workflow(workflow)


def _saved(
    eid: str, definition: Definition, inputs: dict[str, Any], cfg: ExecutionConfig
) -> SavedExecution:
    return SavedExecution(
        execution_id=eid,
        workflow=workflow_to_data(definition.workflow),
        library=definition.library_data(),
        workflow_hash=definition.hash,
        inputs=inputs,
        config=cfg.model_dump(),
        source=definition.source,
    )
