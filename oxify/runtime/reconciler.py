"""The reconciler: re-drives executions whose progress stalled, and repairs them.

Lost task messages, lost chord callbacks, killed workers and children lost between a
parent's commit and their creation all look the same from the store: an execution that
stopped moving. Every ``interval`` seconds the reconciler advances each execution idle for
``stall_after`` seconds with its repairs: outcomes reported but never applied are applied,
attempts whose lease expired become new attempts, attempts nobody claimed within the
dispatch timeout are sent again, execution deadlines are enforced, children that were
never created are created and results of children that never told their parent are
delivered. Executions that ended (or expired) leave the index quietly. Any number of
reconcilers may run: every change is a compare-and-set.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from oxify.engine.machine import Action
from oxify.engine.state import ExecutionState, NodeState
from oxify.engine.waits import ChildEntry
from oxify.runtime import composites

if TYPE_CHECKING:
    from oxify.runtime.driver import Step
    from oxify.runtime.runtime import Runtime

log = logging.getLogger("oxify.reconciler")


class Reconciler:
    """Repairs the executions of a :class:`~oxify.runtime.runtime.Runtime`."""

    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self._stop = threading.Event()

    def reconcile(self, stall_after: float) -> int:
        """One pass over the executions idle for ``stall_after`` seconds; how many moved."""
        store = self.rt.store
        moved = 0
        for eid in store.stalled(time.time() - stall_after):
            try:
                state, _ = store.status(eid)
                if state is None or ExecutionState(state).terminal:
                    store.forget_stalled(eid)  # ended (or expired) since it was listed
                    continue
                if self.rt.driver.advance(eid, self):
                    moved += 1
            except Exception:  # one broken execution must not stop the others
                log.exception("reconciler: cannot drive execution %s", eid)
        return moved

    def start(self, interval: float, stall_after: float) -> threading.Thread:
        """Reconcile every ``interval`` seconds on a daemon thread, until :meth:`stop`."""

        def loop() -> None:
            while not self._stop.wait(interval):
                try:
                    self.reconcile(stall_after)
                except Exception:
                    log.exception("reconciler pass failed")

        thread = threading.Thread(target=loop, name="oxify-reconciler", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()

    # -- repairs (see oxify.runtime.driver.Repairs) -----------------------------------------
    def lost_work(self, st: Step, consumed: set[str]) -> list[Action]:
        """Lost workers (lease expired: a new attempt) and lost messages (an attempt nobody
        claimed in time: sent again, as the same attempt)."""
        store, record, now = self.rt.store, st.record, st.now
        eid = st.execution_id
        claims = store.claims(eid)
        dispatched = store.dispatched(eid)
        here = self.rt.driver.here(st.prepared)
        paused = record.state is ExecutionState.PAUSED
        actions: list[Action] = []
        for node_id, rec in record.nodes.items():
            if rec.state is not NodeState.QUEUED or node_id in consumed:
                continue
            claim = claims.get(node_id)
            if claim is not None and claim.attempt == rec.attempts:
                if claim.lease_until < now:
                    log.warning("execution %s: worker %s lost node %s", eid, claim.worker, node_id)
                    actions += st.machine.node_lost(record, node_id, rec.attempts, now)
                continue
            if node_id in here:
                continue  # never sent to a worker: the step that finds it due runs it
            sent = dispatched.get(node_id)
            if (
                not paused
                and sent is not None
                and sent.attempt == rec.attempts
                and now - sent.due > self.rt.options.dispatch_timeout
            ):
                log.warning(
                    "execution %s: re-sending node %s attempt %d", eid, node_id, rec.attempts
                )
                st.resend.append(self.rt.driver.task(st, node_id, rec.attempts))
        return actions

    def check_child(self, st: Step, node_id: str, attempt: int, child: ChildEntry) -> None:
        """A child the wait still runs: create it if it never was; if it ended without
        telling this execution, tell it now."""
        store = self.rt.store
        state, _ = store.status(child.id)
        if state is None:
            log.warning("execution %s: creating lost child execution %s", st.execution_id, child.id)
            composites.start_child(self.rt, st.execution_id, st.record, node_id, attempt, child)
        elif ExecutionState(state).terminal:
            composites.notify_parent(self.rt, store.load(child.id).record)
