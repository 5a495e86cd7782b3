"""The services the roles of one process share, and the roles themselves.

A :class:`Runtime` is a state store, a dispatcher, the executors this process has, its
hooks and a few options; it holds one of each role:

- :class:`~oxify.runtime.producer.Producer` — submit executions, set their flags (cancel,
  pause), read them; resume and replay. It never needs an executor.
- :class:`~oxify.runtime.driver.Driver` — the only code that drives the state machine:
  read a snapshot, step, commit, then send what the step decided. It needs the plan and
  each kind's static facts (:mod:`oxify.nodes.kinds`), not the executors of pool nodes.
- :class:`~oxify.runtime.node_runner.NodeRunner` — the worker side: claim an attempt,
  look its executor up (the only place that happens for pool nodes), run it, report.
- :class:`~oxify.runtime.reconciler.Reconciler` — find stalled executions and repair them
  (lost workers, lost messages, lost children).

Embedded mode is a runtime over the in-process store and a thread-pool dispatcher;
distributed mode the same runtime over Redis and Celery.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field

from oxify.nodes.registry import NodeRegistry
from oxify.runtime.definitions import Definitions
from oxify.runtime.dispatch import Dispatcher, EventSink, HookSink
from oxify.runtime.driver import Driver
from oxify.runtime.hooks import Hooks
from oxify.runtime.node_runner import NodeRunner, Supervision
from oxify.runtime.producer import Producer
from oxify.runtime.reconciler import Reconciler
from oxify.store.base import StateStore

DAY = 24 * 3600.0


def _worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class RuntimeOptions:
    """How this process runs executions. Durations are seconds."""

    result_ttl: float | None = 7 * DAY
    """How long a finished execution stays (None: until the store drops it)."""
    lease: float = 10.0
    """A worker's claim on the attempt it runs (renewed every third of it)."""
    dispatch_timeout: float = 300.0
    """An attempt nobody claimed this long after it was due is sent again."""
    worker_id: str = field(default_factory=_worker_id)
    cap_children: bool = False
    """A composite node runs at most ``max_concurrent_nodes`` children at once (embedded
    mode, where each child's nodes run on this process's threads)."""
    keep_final_checkpoint: bool = False
    """Always checkpoint the end of a top-level execution, silently (embedded mode: the
    store is this process's memory; resume and replay read the checkpoint store)."""
    inline_executors: bool = False
    """The driver runs pool nodes whose executor this process registered ``inline``
    itself, in its step, as it runs IfElse (embedded mode: the driver has every executor;
    never in distributed mode, where the driver must not need a pool's executors)."""


class Runtime:
    """A store, a dispatcher, executors, hooks and options, with the roles over them."""

    def __init__(
        self,
        store: StateStore,
        dispatcher: Dispatcher,
        registry: NodeRegistry | None = None,
        *,
        hooks: Hooks | None = None,
        events: EventSink | None = None,
        options: RuntimeOptions | None = None,
        supervision: Supervision | None = None,
    ) -> None:
        self.store = store
        self.dispatcher = dispatcher
        self.registry = registry or NodeRegistry.default()
        self.hooks = hooks or Hooks()
        self.events: EventSink = events or HookSink(self.hooks)
        self.options = options or RuntimeOptions()
        self.definitions = Definitions(store)
        self.driver = Driver(self)
        self.producer = Producer(self)
        self.runner = NodeRunner(self, supervision)
        self.reconciler = Reconciler(self)
