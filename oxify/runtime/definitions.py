"""Definitions as a process uses them: parsed, planned and indexed once per definition
hash, whichever thread asks first (the others wait for that one instead of parsing too)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from oxify.engine.machine import routers_of
from oxify.engine.plan import Plan, build_plan
from oxify.engine.scope import index_names
from oxify.model.definition import Definition
from oxify.store.base import StateStore


@dataclass(frozen=True)
class Prepared:
    """A definition with what running it needs: its plan and its name index."""

    definition: Definition
    plan: Plan
    names: dict[str, str]
    routers: frozenset[str]


class Definitions:
    """A cache of prepared definitions by hash (the newest ``size``)."""

    def __init__(self, store: StateStore, size: int = 100) -> None:
        self.store = store
        self.size = size
        self._entries: OrderedDict[str, Prepared] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}

    def get(self, execution_id: str, definition_hash: str) -> Prepared:
        """The definition ``execution_id`` is pinned to (``definition_hash``)."""
        with self._lock:
            entry = self._entries.get(definition_hash)
            if entry is not None:
                self._entries.move_to_end(definition_hash)
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

    def remember(self, definition: Definition, definition_hash: str | None = None) -> Prepared:
        """Prepare a definition this process has already (a submit, a re-pin)."""
        key = definition_hash or definition.hash
        with self._lock:
            entry = self._entries.get(key)
        if entry is None:
            workflow = definition.workflow
            names = index_names([(n.name, n.id) for n in workflow.nodes])
            entry = Prepared(definition, build_plan(workflow), names, routers_of(workflow))
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return entry
