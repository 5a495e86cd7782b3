"""The embedded body's dispatcher: node attempts and drives on this process's threads.

- **Pool.** Threads that run jobs; a new one starts when none is idle, and one idle for
  :data:`IDLE_SECONDS` exits. Python cannot kill a thread: an attempt that times out is
  abandoned (told to stop through its context) and no longer counts.
- **Fan-out on stall.** An attempt admitted while this process's threads are busy waits for
  one of them (the next that finishes its work takes it) unless every busy thread has been
  inside an executor for :data:`STALL_SECONDS`: then it gets a thread of its own at once.
  Cheap executors thus run one after another on few threads (Python threads that contend
  for the GIL and the store's lock cost more than they gain), while executors that block
  (a model call, I/O) run side by side, up to the lane's limit, after that short delay.
- **Batched drives.** A thread that reported an outcome and has another attempt to run
  next defers the drive (the step that consumes outcomes and sends what follows) for up to
  :data:`DRIVE_DELAY`: one step then consumes the outcomes of many cheap attempts. The
  drives a pool thread asks for (new children, a parent's wake-up) wait the same way. A
  deferred drive never waits for a blocked executor: it is taken like a waiting attempt.
- **Lanes.** Each execution runs at most its ``max_concurrent_nodes`` attempts at once; the
  others wait in its lane, in order.
- **Timers.** Delayed attempts (retries) and wake-ups (deadlines) fire from one timer
  thread, which hands the work to the pool.
- **Supervision.** An attempt's executor runs on the pool thread that took it; its time
  limit is watched by a timer, which reports the timeout itself (the attempt's late result
  is then refused by the store) and frees the lane's slot.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from oxify.nodes.base import NodeContext
from oxify.nodes.registry import ExecutorSpec
from oxify.runtime.dispatch import NodeTask
from oxify.runtime.hooks import Hooks, call_executor
from oxify.runtime.node_runner import Claimed, Watched

if TYPE_CHECKING:
    from oxify.runtime.runtime import Runtime

log = logging.getLogger("oxify")

IDLE_SECONDS = 5.0
"""A pool thread idle this long exits."""
STALL_SECONDS = 0.002
"""A busy thread inside an executor this long counts as blocked: attempts and drives that
wait for a thread then get threads of their own."""
DRIVE_DELAY = 0.001
"""A thread with more attempts to run drives the executions it reported to after at most
this long, once for all the outcomes reported meanwhile."""

Job = Callable[[], None]


class Pool:
    """Threads that run jobs, as many as there is work for."""

    def __init__(self, name: str) -> None:
        self._jobs: queue.SimpleQueue[Job] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0
        self._name = name
        self._counter = itertools.count()

    def run(self, job: Job) -> None:
        self._jobs.put(job)
        with self._lock:
            if self._idle > 0:
                self._idle -= 1
                return
        name = f"{self._name}-{next(self._counter)}"
        threading.Thread(target=self._work, name=name, daemon=True).start()

    def _work(self) -> None:
        while True:
            try:
                job = self._jobs.get(timeout=IDLE_SECONDS)
            except queue.Empty:
                with self._lock:
                    if self._idle > 0:  # nobody counted on this thread: it may go
                        self._idle -= 1
                        return
                continue  # a job was promised to this thread: wait for it
            try:
                job()
            except BaseException:  # a job must never kill its thread silently
                log.exception("embedded job failed")
            with self._lock:
                self._idle += 1


class Timers:
    """Jobs due later, run on the pool when due."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool
        self._heap: list[tuple[float, int, Job, bool]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._pending: set[int] = set()
        self._thread: threading.Thread | None = None

    def at(self, delay: float, job: Job, *, here: bool = False) -> int:
        """Run ``job`` in ``delay`` seconds (``here``: on the timer thread itself, for short
        jobs); returns a handle for :meth:`cancel`."""
        handle = next(self._seq)
        with self._cond:
            heapq.heappush(self._heap, (time.monotonic() + delay, handle, job, here))
            self._pending.add(handle)
            self._cond.notify()
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="oxify-timers", daemon=True)
                self._thread.start()
        return handle

    def cancel(self, handle: int) -> None:
        with self._cond:
            self._pending.discard(handle)

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._heap:
                    self._cond.wait()
                due, handle, job, here = self._heap[0]
                left = due - time.monotonic()
                if left > 0:
                    self._cond.wait(left)
                    continue
                heapq.heappop(self._heap)
                if handle not in self._pending:  # cancelled
                    continue
                self._pending.discard(handle)
            if not here:
                self._pool.run(job)
                continue
            try:
                job()
            except BaseException:
                log.exception("embedded timer job failed")


@dataclass(slots=True)
class _Lane:
    """One execution's attempts: how many may run at once, how many do, who waits."""

    limit: int
    running: int = 0
    waiting: deque[NodeTask] = field(default_factory=deque)


@dataclass(eq=False, slots=True)
class _Attempt:
    """An attempt on a pool thread (its context, once its executor runs)."""

    task: NodeTask
    ctx: NodeContext | None = None
    released: bool = False
    cancelled: bool = False
    began: float | None = None
    """When its executor was called (monotonic), while it runs."""


class ThreadDispatcher:
    """:class:`~oxify.runtime.dispatch.Dispatcher` on threads, and the
    :class:`~oxify.runtime.node_runner.Supervision` of the attempts it runs."""

    def __init__(self, name: str = "oxify") -> None:
        self.pool = Pool(name)
        self.timers = Timers(self.pool)
        self._lock = threading.Lock()
        self._lanes: dict[str, _Lane] = {}
        self._attempts: dict[tuple[str, str, int], _Attempt] = {}
        self._revoked: set[tuple[str, str, int]] = set()
        self._busy = 0
        """Pool jobs running now."""
        self._ready: deque[NodeTask] = deque()
        """Admitted attempts (their lane slot taken) waiting for a busy thread."""
        self._drives: dict[str, None] = {}
        """Executions with outcomes reported and a drive deferred, in order."""
        self._drives_since = 0.0
        """When the oldest deferred drive was deferred (monotonic)."""
        self._watching = False
        """A stall check is scheduled."""
        self._local = threading.local()
        self._inline_flags: dict[str, dict[str, bool]] = {}
        """Definition hash → node → whether its executor is registered ``inline``."""
        self.rt: Runtime

    def bind(self, runtime: Runtime) -> None:
        """The runtime whose driver and node runner this dispatcher runs."""
        self.rt = runtime

    # -- Dispatcher -------------------------------------------------------------------------
    def send(self, tasks: Sequence[NodeTask], level: int | None) -> None:
        for task in tasks:
            if task.delay > 0:
                self.timers.at(task.delay, self._job(functools.partial(self._admit, task)))
            else:
                self._admit(task)

    def start(self, execution_id: str, delay: float = 0.0) -> None:
        """Drive later (``delay``), or soon: on this pool thread once it has run what it has
        (a deferred drive, as after an outcome: many new children are then driven one after
        another, not on as many contending threads), else on a thread of its own."""
        if delay <= 0 and getattr(self._local, "in_job", False):
            self._defer_drive(execution_id)
            return
        job = self._job(functools.partial(self.rt.driver.drive, execution_id))
        if delay > 0:
            self.timers.at(delay, job)
        else:
            self.pool.run(job)

    def _job(self, work: Job) -> Job:
        """A pool job: ``work``, then the attempts it left for this thread to run next
        (a thread that would go idle runs the next attempt itself: no hand-off)."""

        def job() -> None:
            local = self._local
            local.in_job, local.next = True, None
            with self._lock:
                self._busy += 1
            try:
                work()
            finally:
                try:
                    while True:
                        while (task := local.next) is not None:
                            local.next = None
                            self._run(task, counted=True)
                            if (
                                self._drives
                                and time.monotonic() - self._drives_since >= DRIVE_DELAY
                            ):
                                self._drive_deferred()
                        # waiting attempts first: their outcomes join the deferred drives
                        if (task := self._take_ready()) is None and self._drive_deferred():
                            continue  # the drives may have left attempts for this thread
                        if task is None and (task := self._take_ready(last=True)) is None:
                            break
                        local.next = task
                finally:
                    local.in_job = False

        return job

    def _take_ready(self, *, last: bool = False) -> NodeTask | None:
        """A waiting attempt for this thread; with ``last``, none means the thread's job
        ends (it no longer counts as busy)."""
        with self._lock:
            if self._ready:
                return self._ready.popleft()
            if last:
                self._busy -= 1
            return None

    def _launch(self, task: NodeTask) -> None:
        """Run an admitted attempt (its lane slot taken): next on this pool thread when it
        has nothing else to do; else on the next busy thread that finishes its work; on a
        thread of its own when no thread is busy or all are blocked (see
        :data:`STALL_SECONDS`)."""
        local = self._local
        if getattr(local, "in_job", False) and getattr(local, "next", None) is None:
            local.next = task
            return
        with self._lock:
            wait = self._busy > 0
            if wait:
                self._ready.append(task)
                watch, self._watching = not self._watching, True
        if not wait:
            self.pool.run(self._job(functools.partial(self._run, task, counted=True)))
        elif watch:
            self.timers.at(STALL_SECONDS, self._check_stall, here=True)

    def _check_stall(self) -> None:
        """On the timer thread: give the waiting attempts and drives threads of their own
        when every busy thread is blocked in an executor; else look again later."""
        now = time.monotonic()
        with self._lock:
            if not self._ready and not self._drives:
                self._watching = False
                return
            blocked = sum(
                1
                for a in self._attempts.values()
                if a.began is not None and now - a.began >= STALL_SECONDS
            )
            stalled = blocked >= self._busy
            if stalled:
                tasks = list(self._ready)
                drives = list(self._drives)
                self._ready.clear()
                self._drives.clear()
                self._watching = False
        if not stalled:
            self.timers.at(STALL_SECONDS, self._check_stall, here=True)
            return
        for execution_id in drives:
            self.pool.run(self._job(functools.partial(self.rt.driver.drive, execution_id)))
        for task in tasks:
            self.pool.run(self._job(functools.partial(self._run, task, counted=True)))

    def _drive_after(self, execution_id: str) -> None:
        """An outcome was reported: drive now, or later when this thread has another
        attempt to run next (see :data:`DRIVE_DELAY`)."""
        lane = self._lanes.get(execution_id)
        if (lane is not None and lane.waiting) or self._ready:  # a racy peek is enough
            self._defer_drive(execution_id)
        else:
            self.rt.driver.drive(execution_id)

    def _defer_drive(self, execution_id: str) -> None:
        """Drive later on this pool thread (which flushes its deferred drives before it
        ends its job), or on another when this one blocks."""
        with self._lock:
            if not self._drives:
                self._drives_since = time.monotonic()
            self._drives[execution_id] = None
            watch, self._watching = not self._watching, True
        if watch:
            self.timers.at(STALL_SECONDS, self._check_stall, here=True)

    def _drive_deferred(self) -> bool:
        """Run the deferred drives; whether there were any."""
        with self._lock:
            drives = list(self._drives)
            self._drives.clear()
        for execution_id in drives:
            self.rt.driver.drive(execution_id)
        return bool(drives)

    def revoke(self, execution_id: str, attempts: Sequence[tuple[str, int]]) -> None:
        with self._lock:
            for node_id, attempt in attempts:
                key = (execution_id, node_id, attempt)
                self._revoked.add(key)
                running = self._attempts.get(key)
                if running is not None:
                    running.cancelled = True
                    if running.ctx is not None:
                        running.ctx.cancel_event.set()

    def forget(self, execution_id: str) -> None:
        """The execution ended: drop its lane and revocations."""
        with self._lock:
            self._lanes.pop(execution_id, None)
            self._drives.pop(execution_id, None)
            self._revoked = {k for k in self._revoked if k[0] != execution_id}

    # -- lanes ------------------------------------------------------------------------------
    def _lane(self, execution_id: str) -> _Lane:
        lane = self._lanes.get(execution_id)
        if lane is None:
            config = self.rt.store.load(execution_id).record.config
            lane = self._lanes[execution_id] = _Lane(config.max_concurrent_nodes)
        return lane

    def _admit(self, task: NodeTask) -> None:
        if self._is_inline(task):
            self._inline(task)
            return
        with self._lock:
            lane = self._lane(task.execution_id)
            if lane.running >= lane.limit:
                lane.waiting.append(task)
                return
            lane.running += 1
        self._launch(task)

    def _is_inline(self, task: NodeTask) -> bool:
        """A cheap executor (registered ``inline``) runs on the thread that sends it and
        does not count against the lane."""
        known = self._inline_flags.get(task.workflow_hash)
        if known is None:
            rt = self.rt
            workflow = rt.definitions.get(task.execution_id, task.workflow_hash).definition.workflow
            known = {}
            for node in workflow.nodes:
                try:
                    known[node.id] = rt.registry.resolve(node).inline
                except Exception:
                    known[node.id] = False  # the runner reports a missing executor
            if len(self._inline_flags) > 100:
                self._inline_flags.clear()
            self._inline_flags[task.workflow_hash] = known
        return known[task.node_id]

    def _inline(self, task: NodeTask) -> None:
        """Run on this thread; attempts sent meanwhile (by the drive this one triggers) wait
        in a queue this call drains, instead of nesting calls."""
        pending: deque[NodeTask] | None = getattr(self._local, "inline", None)
        if pending is not None:
            pending.append(task)
            return
        self._local.inline = pending = deque([task])
        try:
            while pending:
                self._run(pending.popleft(), counted=False)
        finally:
            self._local.inline = None

    def _run(self, task: NodeTask, *, counted: bool) -> None:
        key = (task.execution_id, task.node_id, task.attempt)
        attempt = _Attempt(task, released=not counted)
        outer = getattr(self._local, "attempt", None)
        with self._lock:
            revoked = key in self._revoked
            if not revoked:
                self._attempts[key] = attempt
        try:
            if not revoked:
                self._local.attempt = attempt
                # no chords here: every accepted outcome drives (an inline one at once)
                if self.rt.runner.run(task, notify=not counted) == "done" and counted:
                    self._drive_after(task.execution_id)
        finally:
            self._local.attempt = outer
            with self._lock:
                self._attempts.pop(key, None)
            self._release(attempt)

    def _release(self, attempt: _Attempt) -> None:
        """Free the attempt's slot in its lane (once) and start who waits."""
        with self._lock:
            if attempt.released:
                return
            attempt.released = True
            lane = self._lanes.get(attempt.task.execution_id)
            if lane is None:
                return
            lane.running -= 1
            if not lane.waiting:
                return
            lane.running += 1
            task = lane.waiting.popleft()
        self._launch(task)

    # -- Supervision ------------------------------------------------------------------------
    def run(
        self, attempt: Claimed, spec: ExecutorSpec, ctx: NodeContext, hooks: Hooks
    ) -> tuple[Watched, Any, BaseException | None]:
        """Run the executor here; a timer watches its time limit."""
        mine: _Attempt | None = getattr(self._local, "attempt", None)
        if mine is not None:
            # each side writes before it reads the other's field: a revoke that comes now
            # either sees the context or is seen here (no lock needed under the GIL)
            mine.ctx = ctx
            if mine.cancelled:
                ctx.cancel_event.set()
            mine.began = time.monotonic()
        try:
            return self._supervise(attempt, spec, ctx, hooks, mine)
        finally:
            if mine is not None:
                mine.began = None

    def _supervise(
        self,
        attempt: Claimed,
        spec: ExecutorSpec,
        ctx: NodeContext,
        hooks: Hooks,
        mine: _Attempt | None,
    ) -> tuple[Watched, Any, BaseException | None]:
        if attempt.limit is None:
            output, error = call_executor(spec.executor, ctx, hooks)
            return "done", output, error
        lock = threading.Lock()
        fired: list[bool] = []

        def expire() -> None:
            with lock:
                if fired:  # finished already
                    return
                fired.append(True)
            ctx.cancel_event.set()
            if mine is not None:
                self._release(mine)  # abandoned: it no longer counts
            attempt.time_out()

        handle = self.timers.at(attempt.limit, expire)
        output, error = call_executor(spec.executor, ctx, hooks)
        with lock:
            timed_out = bool(fired)
            fired.append(False)
        self.timers.cancel(handle)
        return ("fenced" if timed_out else "done"), output, error
