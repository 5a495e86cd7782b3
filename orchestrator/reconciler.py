"""The reconciler: re-drives executions whose progress stalled.

Lost task messages, lost chord callbacks and killed workers all look the same from Redis:
an execution that stopped moving. Every ``interval`` seconds the reconciler advances each
execution idle for ``stall_after`` seconds, which applies reported outcomes, declares
attempts whose lease expired lost (and runs them again), re-sends attempts nobody claimed,
and enforces execution deadlines. Any number of reconcilers may run: every change is a
compare-and-set.
"""

from __future__ import annotations

import logging
import threading

from oxify.coordinator import Coordinator

log = logging.getLogger("oxify.reconciler")


class Reconciler:
    def __init__(self, coordinator: Coordinator, *, interval: float, stall_after: float) -> None:
        self.coordinator = coordinator
        self.interval = interval
        self.stall_after = stall_after
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="oxify-reconciler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.coordinator.reconcile(self.stall_after)
            except Exception:
                log.exception("reconciler pass failed")
