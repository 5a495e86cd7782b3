"""The producer: create executions, set their flags, read them — without executors.

A producer validates a workflow, stores a new execution and asks for it to be driven; it
cancels, pauses and resumes executions by setting flags in the store and driving them once
(the driver needs no executor of a pool node, so a producer with no plugin can do it);
resume and replay are in :mod:`oxify.runtime.durable`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from oxify.engine.describe import workflow_started
from oxify.engine.jsonvalues import json_inputs
from oxify.engine.machine import make_machine
from oxify.engine.options import ExecutionConfig
from oxify.engine.results import ExecutionResult, build_result
from oxify.engine.state import ExecutionRecord, ExecutionState, ParentLink
from oxify.engine.waits import ChildEntry
from oxify.errors import ExecutionError
from oxify.model.definition import Definition
from oxify.runtime import durable
from oxify.store.base import NewEvent, NewExecution

if TYPE_CHECKING:
    from oxify.runtime.runtime import Runtime


class Producer:
    """Submits and controls executions of a :class:`~oxify.runtime.runtime.Runtime`."""

    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime

    # -- creating executions ----------------------------------------------------------------
    def submit(
        self,
        definition: Definition,
        inputs: Mapping[str, Any] | None = None,
        config: ExecutionConfig | None = None,
        *,
        execution_id: str,
        idempotency_key: str | None = None,
    ) -> tuple[str, bool]:
        """Validate and store a new execution, then have it started. Returns ``(execution
        id, created)`` (an idempotency key seen before returns the execution created then);
        an invalid workflow raises :class:`~oxify.errors.ValidationError` and stores
        nothing."""
        cfg = config or ExecutionConfig()
        record = self._record(definition, json_inputs(inputs), cfg, execution_id)
        return self._create(definition, record, cfg, idempotency_key=idempotency_key)

    def create_child(
        self,
        definition: Definition,
        inputs: Mapping[str, Any],
        parent: ExecutionRecord,
        node_id: str,
        attempt: int,
        child: ChildEntry,
    ) -> None:
        """Create and start a child execution of a composite node (paused if its parent
        is paused)."""
        cfg = parent.config.for_child()
        record = self._record(definition, json_inputs(inputs), cfg, child.id)
        record.parent = ParentLink(parent.execution_id, node_id, attempt, child.id, child.label)
        record.depth = parent.depth + 1
        paused = parent.state is ExecutionState.PAUSED
        self._create(definition, record, cfg, paused=paused)

    def _record(
        self,
        definition: Definition,
        inputs: dict[str, Any],
        cfg: ExecutionConfig,
        execution_id: str,
    ) -> ExecutionRecord:
        prepared = self.rt.definitions.validated(definition)
        machine = make_machine(definition.workflow, prepared.plan, cfg, routers=prepared.routers)
        record = machine.new_record(execution_id, inputs)
        record.workflow_hash = definition.hash
        record.config = cfg
        return record

    def _create(
        self,
        definition: Definition,
        record: ExecutionRecord,
        cfg: ExecutionConfig,
        *,
        idempotency_key: str | None = None,
        paused: bool = False,
    ) -> tuple[str, bool]:
        type_, data = workflow_started(definition.workflow, cfg.mode)
        new = self.new_execution(definition, record, [NewEvent(type_, data, time.time())])
        return self.create(new, idempotency_key, paused=paused)

    def new_execution(
        self,
        definition: Definition,
        record: ExecutionRecord,
        events: list[NewEvent],
        outputs: dict[str, Any] | None = None,
    ) -> NewExecution:
        """An execution to create: its deadline follows its ``timeout``, from now."""
        created_at = self.rt.store.now()
        timeout = record.config.timeout
        return NewExecution(
            definition,
            record,
            created_at,
            None if timeout is None else created_at + float(timeout),
            events,
            outputs or {},
        )

    def create(
        self, new: NewExecution, idempotency_key: str | None = None, *, paused: bool = False
    ) -> tuple[str, bool]:
        """Store a new execution and have it started (paused first, if asked)."""
        rt = self.rt
        rt.definitions.remember(new.definition)
        eid, created = rt.store.create(new, idempotency_key)
        if created:
            if paused:  # a child started while its parent is paused
                rt.store.request_pause(eid, "parent paused")
            events = rt.store.events(eid, count=len(new.events))
            rt.events.published(eid, events)
            rt.dispatcher.start(eid)
        return eid, created

    # -- flags ------------------------------------------------------------------------------
    def cancel(self, execution_id: str, reason: str = "cancelled by request") -> None:
        """Flag the execution as cancelled and drive it to its end at once (its child
        executions are cancelled with it)."""
        self.rt.store.request_cancel(execution_id, reason)
        self.rt.driver.advance(execution_id)

    def pause(self, execution_id: str, reason: str = "requested") -> None:
        """Pause: no new node starts (queued ones are held); running ones finish. Child
        executions of composite nodes are paused with it."""
        state, _ = self.rt.store.status(execution_id)
        if state is None:
            raise ExecutionError(f"no execution with id {execution_id}")
        if ExecutionState(state).terminal:
            raise ExecutionError(f"execution {execution_id} is {state}: it cannot be paused")
        self.rt.store.request_pause(execution_id, reason)
        self.rt.driver.advance(execution_id)

    def unpause(self, execution_id: str) -> None:
        """Let a paused execution go on: held nodes are sent (and its children go on)."""
        self.rt.store.clear_pause(execution_id)
        self.rt.driver.advance(execution_id)

    def resume(
        self,
        execution_id: str,
        *,
        checkpoint: str | None = None,
        definition: Definition | None = None,
        allow_changed: bool = False,
    ) -> None:
        """See :func:`oxify.runtime.durable.resume`."""
        durable.resume(self.rt, execution_id, checkpoint, definition, allow_changed)

    def replay(
        self,
        execution_id: str,
        from_node: str,
        inputs: Mapping[str, Any] | None = None,
        *,
        checkpoint: str | None = None,
        definition: Definition | None = None,
        allow_changed: bool = False,
        new_execution_id: str,
    ) -> str:
        """See :func:`oxify.runtime.durable.replay`; returns the new execution's id."""
        return durable.replay(
            self.rt,
            execution_id,
            from_node,
            inputs,
            checkpoint,
            definition,
            allow_changed,
            new_execution_id,
        )

    # -- reads ------------------------------------------------------------------------------
    def result(self, execution_id: str) -> ExecutionResult:
        """The execution as it stands (finished or not)."""
        store = self.rt.store
        snap = store.load(execution_id)
        workflow = self.rt.definitions.get(execution_id, snap.workflow_hash).definition.workflow
        record = snap.record
        outputs = store.outputs(execution_id)
        running = store.claims(execution_id) if not record.state.terminal else {}
        return build_result(workflow, record, outputs, running)

    def checkpoints(self, execution_id: str) -> list[dict[str, Any]]:
        """Summaries of the execution's checkpoints, oldest first."""
        if not self.rt.store.exists(execution_id):
            raise ExecutionError(f"no execution with id {execution_id}")
        return [cp.summary() for cp in self.rt.store.checkpoints(execution_id)]
