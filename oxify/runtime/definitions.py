"""Definitions as a process uses them: parsed, planned and indexed once per definition
hash, whichever thread asks first (the others wait for that one instead of parsing too)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from oxify.engine.machine import routers_of
from oxify.engine.plan import Plan, build_plan
from oxify.engine.scope import index_names
from oxify.engine.validate import ensure_valid
from oxify.model.definition import Definition
from oxify.nodes.kinds import Placement, placement, queue_for
from oxify.store.base import StateStore


@dataclass(frozen=True, slots=True)
class Prepared:
    """A definition with what running it needs: its plan and its name index."""

    definition: Definition
    plan: Plan
    names: dict[str, str]
    routers: frozenset[str]
    local: tuple[str, ...]
    """The nodes the driver runs itself (Start, End, IfElse, Switch, composites)."""
    composites: tuple[str, ...]
    """The composite nodes (Loop, TryCatch, SubWorkflow, Parallel)."""
    routes: dict[str, tuple[str, str, str]]
    """Pool node → (its queue, name, kind): what its task messages carry."""


class Definitions:
    """A cache of prepared definitions by hash (the ``size`` newest prepared)."""

    def __init__(self, store: StateStore, size: int = 100) -> None:
        self.store = store
        self.size = size
        self._entries: OrderedDict[str, Prepared] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}
        self._valid: set[str] = set()

    def get(self, execution_id: str, definition_hash: str) -> Prepared:
        """The definition ``execution_id`` is pinned to (``definition_hash``)."""
        entry = self._entries.get(definition_hash)  # the hot path: no lock
        if entry is not None:
            return entry
        with self._lock:
            entry = self._entries.get(definition_hash)
            if entry is not None:
                return entry
            loading = self._loading.setdefault(definition_hash, threading.Lock())
        with loading:  # one thread parses; the others wait for it
            with self._lock:
                entry = self._entries.get(definition_hash)
            if entry is not None:
                return entry
            entry = self.remember(self.store.definition(execution_id), definition_hash)
        with self._lock:
            self._loading.pop(definition_hash, None)
        return entry

    def validated(self, definition: Definition) -> Prepared:
        """A definition checked once per hash (:class:`~oxify.errors.ValidationError`
        listing every problem if it is invalid), prepared."""
        with self._lock:
            entry = self._entries.get(definition.hash)
            if entry is not None and definition.hash in self._valid:
                return entry
        ensure_valid(definition.workflow)
        entry = self.remember(definition)
        with self._lock:
            self._valid.add(definition.hash)
        return entry

    def remember(self, definition: Definition, definition_hash: str | None = None) -> Prepared:
        """Prepare a definition this process has already (a submit, a re-pin)."""
        key = definition_hash or definition.hash
        with self._lock:
            entry = self._entries.get(key)
        if entry is None:
            workflow = definition.workflow
            names = index_names([(n.name, n.id) for n in workflow.nodes])
            plan = build_plan(workflow)
            nodes = workflow.nodes_by_id
            where = {n: placement(nodes[n]) for n in plan.order}
            entry = Prepared(
                definition,
                plan,
                names,
                routers_of(workflow),
                tuple(n for n in plan.order if where[n] is not Placement.POOL),
                tuple(n for n in plan.order if where[n] is Placement.COMPOSITE),
                {
                    n: (queue_for(workflow, n), nodes[n].name, nodes[n].kind_name)
                    for n in plan.order
                    if where[n] is Placement.POOL
                },
            )
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                gone, _ = self._entries.popitem(last=False)
                self._valid.discard(gone)
        return entry
