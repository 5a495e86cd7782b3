"""The embedded runner's worker threads.

Python cannot kill a thread: an attempt that times out is abandoned (told to stop through
its context) and the pool grows by one thread until the abandoned one finishes and exits, so
the concurrency limit keeps counting only attempts that matter.
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass

from oxify.nodes.base import NodeContext
from oxify.nodes.registry import ExecutorSpec


@dataclass(eq=False)
class Attempt:
    """One attempt of one node, handed to a worker thread."""

    node_id: str
    attempt: int
    ctx: NodeContext
    spec: ExecutorSpec
    abandoned: bool = False


class WorkerPool:
    """Threads that run node attempts. A timed-out attempt's thread is abandoned (Python
    cannot kill a thread): the pool grows by one until that thread finishes and exits."""

    def __init__(self, size: int, name: str, run: Callable[[Attempt], None]) -> None:
        self._jobs: queue.SimpleQueue[Attempt | None] = queue.SimpleQueue()
        self._limit = size
        self._alive = 0
        self._idle = 0
        self._lock = threading.Lock()
        self._name = name
        self._run = run
        self._counter = itertools.count()

    def submit(self, job: Attempt) -> None:
        self._jobs.put(job)
        with self._lock:
            if self._idle > 0:
                self._idle -= 1
                return
            if self._alive >= self._limit:
                return
            self._alive += 1
        threading.Thread(
            target=self._work, name=f"{self._name}-{next(self._counter)}", daemon=True
        ).start()

    def abandon(self, job: Attempt) -> None:
        job.abandoned = True
        with self._lock:
            self._limit += 1

    def shutdown(self) -> None:
        with self._lock:
            alive = self._alive
        for _ in range(alive):
            self._jobs.put(None)

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                with self._lock:
                    self._alive -= 1
                return
            self._run(job)
            with self._lock:
                if job.abandoned:
                    self._limit -= 1
                    self._alive -= 1
                    return
                self._idle += 1
