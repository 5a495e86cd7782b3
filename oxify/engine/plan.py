"""Planning: Kahn's algorithm into levels, cycle detection, and an LRU plan cache."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from oxify.errors import CycleError
from oxify.model.workflow import Workflow


@dataclass(frozen=True)
class Plan:
    """The shape of a workflow as the scheduler needs it.

    ``levels[i]`` holds the node ids whose longest path from a root has length ``i``, in the
    order the nodes appear in the file; ``order`` is all levels concatenated (a topological
    order); ``preds``/``succs`` are deduplicated adjacency lists in file order.
    """

    levels: tuple[tuple[str, ...], ...]
    preds: dict[str, tuple[str, ...]]
    succs: dict[str, tuple[str, ...]]
    level_of: dict[str, int]
    order: tuple[str, ...]
    _ancestors: dict[str, frozenset[str]] = field(
        default_factory=dict, compare=False, repr=False, hash=False
    )

    @property
    def node_count(self) -> int:
        return len(self.order)

    def ancestors(self, node_id: str) -> frozenset[str]:
        """Every node upstream of ``node_id`` (memoized; safe to call from several threads)."""
        known = self._ancestors.get(node_id)
        if known is not None:
            return known
        seen: set[str] = set()
        stack = list(self.preds[node_id])
        while stack:
            n = stack.pop()
            if n not in seen:
                seen.add(n)
                stack.extend(self.preds[n])
        result = frozenset(seen)
        self._ancestors[node_id] = result
        return result


def find_cycle(nodes: Sequence[str], edges: Iterable[tuple[str, str]]) -> list[str] | None:
    """A cycle among ``nodes`` as ``[a, b, ..., a]``, or ``None`` if the graph is acyclic.

    Iterative (no recursion), so graphs of any size are fine.
    """
    nodes = list(dict.fromkeys(nodes))  # ids are unique here even if the file repeats one
    index = {n: i for i, n in enumerate(nodes)}
    preds: dict[str, list[str]] = {n: [] for n in nodes}
    succs: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in edges:
        if a in index and b in index:
            preds[b].append(a)
            succs[a].append(b)
    indegree = {n: len(preds[n]) for n in nodes}
    ready = [n for n in nodes if indegree[n] == 0]
    seen = 0
    while ready:
        n = ready.pop()
        seen += 1
        for s in succs[n]:
            indegree[s] -= 1
            if indegree[s] == 0:
                ready.append(s)
    if seen == len(nodes):
        return None
    # Every remaining node has a remaining predecessor: walk backwards until a repeat.
    remaining = {n for n in nodes if indegree[n] > 0}
    start = min(remaining, key=index.__getitem__)
    path: list[str] = []
    position: dict[str, int] = {}
    current = start
    while current not in position:
        position[current] = len(path)
        path.append(current)
        current = next(p for p in preds[current] if p in remaining)
    cycle = path[position[current] :]
    cycle.reverse()  # walked backwards along edges; present it forwards
    return [*cycle, cycle[0]]


def build_plan(workflow: Workflow) -> Plan:
    """Plan a workflow whose ids are unique and whose edges name existing nodes.

    Raises :class:`~oxify.errors.CycleError` naming the nodes on a cycle.
    """
    ids = [n.id for n in workflow.nodes]
    position = {n: i for i, n in enumerate(ids)}
    preds: dict[str, list[str]] = {n: [] for n in ids}
    succs: dict[str, list[str]] = {n: [] for n in ids}
    seen_edges: set[tuple[str, str]] = set()
    for edge in workflow.edges:
        pair = (edge.source, edge.target)
        if pair in seen_edges or edge.source not in position or edge.target not in position:
            continue
        seen_edges.add(pair)
        preds[edge.target].append(edge.source)
        succs[edge.source].append(edge.target)
    for lst in (*preds.values(), *succs.values()):
        lst.sort(key=position.__getitem__)

    indegree = {n: len(preds[n]) for n in ids}
    level = [n for n in ids if indegree[n] == 0]
    levels: list[tuple[str, ...]] = []
    level_of: dict[str, int] = {}
    while level:
        levels.append(tuple(level))
        nxt: list[str] = []
        for n in level:
            level_of[n] = len(levels) - 1
            for s in succs[n]:
                indegree[s] -= 1
                if indegree[s] == 0:
                    nxt.append(s)
        nxt.sort(key=position.__getitem__)
        level = nxt
    if len(level_of) != len(ids):
        cycle = find_cycle(ids, seen_edges) or []
        names = [_describe(workflow, n) for n in cycle]
        raise CycleError(cycle, "cycle detected: " + " -> ".join(names))
    return Plan(
        levels=tuple(levels),
        preds={n: tuple(v) for n, v in preds.items()},
        succs={n: tuple(v) for n, v in succs.items()},
        level_of=level_of,
        order=tuple(n for lvl in levels for n in lvl),
    )


def _describe(workflow: Workflow, node_id: str) -> str:
    node = workflow.nodes_by_id.get(node_id)
    return node.label if node else node_id


class PlanCache:
    """A thread-safe least-recently-used cache of plans keyed by workflow content hash."""

    def __init__(self, capacity: int = 100) -> None:
        if capacity < 1:
            raise ValueError("plan cache capacity must be at least 1")
        self.capacity = capacity
        self._entries: OrderedDict[str, Plan] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, workflow: Workflow) -> Plan:
        """The plan of ``workflow``, computed once per distinct definition."""
        key = workflow.content_hash
        with self._lock:
            plan = self._entries.get(key)
            if plan is not None:
                self._entries.move_to_end(key)
                self.hits += 1
                return plan
            self.misses += 1
        plan = build_plan(workflow)
        with self._lock:
            self._entries[key] = plan
            self._entries.move_to_end(key)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)
        return plan

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, workflow: object) -> bool:
        return isinstance(workflow, Workflow) and workflow.content_hash in self._entries

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
