"""The explicit registry: node kind → executor.

A registry is an object you build (``NodeRegistry.default()``), not an import-time global.
``Custom`` nodes are looked up by ``plugin_id``: first among executors registered with
:meth:`NodeRegistry.register_custom`, then in the Python entry-point group ``oxify.nodes``
(entry point name = plugin id; the object it loads is an executor, or a class whose
instances are executors).

Where a node runs is not the registry's business (see :mod:`oxify.nodes.kinds`): a process
needs the executors of the nodes it runs, and only those. A pool's workers register the
plugins of their queue; an orchestrator needs none.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

from oxify.errors import NodeNotAvailableError
from oxify.model.kinds import KIND_NAMES, CustomKind
from oxify.model.workflow import Node
from oxify.nodes.base import NodeContext, NodeExecutor

if TYPE_CHECKING:
    from oxify.nodes.composite import CompositeExecutor

ENTRY_POINT_GROUP = "oxify.nodes"

_PENDING_FEATURE = {
    "LLM": "the LLM connectors (OpenAI, Anthropic, Ollama)",
    "Retriever": "the retrieval connectors (Qdrant, pgvector)",
    "Code": "the WebAssembly sandbox",
    "Tool": "the MCP/HTTP tool connectors",
    "Approval": "human-in-the-loop support",
    "Form": "human-in-the-loop support",
    "Vision": "the vision/OCR connectors",
}


def _composite_only(ctx: NodeContext) -> Any:
    raise TypeError(f"{ctx.node.kind_name} is a composite node: runners step it, not call it")


@dataclass(frozen=True)
class ExecutorSpec:
    """How to run one kind: the executor, and whether it is cheap enough to be called on
    the thread that dispatches it (the embedded runner then skips the hand-off to a pool
    thread; workers always run nodes on their own threads)."""

    executor: NodeExecutor
    inline: bool = False
    composite: CompositeExecutor | None = None
    """Set for nodes that run child executions (the driver steps them)."""


class NodeRegistry:
    """Maps node kinds (and Custom plugin ids) to executors."""

    def __init__(self, *, load_entry_points: bool = True) -> None:
        self._kinds: dict[str, ExecutorSpec] = {}
        self._plugins: dict[str, ExecutorSpec] = {}
        self._load_entry_points = load_entry_points
        self._lock = threading.Lock()

    @classmethod
    def default(cls, *, load_entry_points: bool = True) -> NodeRegistry:
        """A registry with every executor this installation has."""
        from oxify.nodes.control import register_control
        from oxify.nodes.loop import LoopExecutor
        from oxify.nodes.parallel import ParallelExecutor
        from oxify.nodes.subworkflow import SubWorkflowExecutor
        from oxify.nodes.trycatch import TryCatchExecutor
        from oxify.nodes.utility import register_utility

        registry = cls(load_entry_points=load_entry_points)
        register_control(registry)
        register_utility(registry)
        registry.register_composite("Loop", LoopExecutor())
        registry.register_composite("TryCatch", TryCatchExecutor())
        registry.register_composite("SubWorkflow", SubWorkflowExecutor())
        registry.register_composite("Parallel", ParallelExecutor())
        return registry

    def register_composite(self, kind: str, executor: CompositeExecutor) -> None:
        """Register the composite executor of a built-in kind (it runs child executions;
        see :mod:`oxify.nodes.composite`)."""
        if kind not in KIND_NAMES or kind == "Custom":
            raise ValueError(f"unknown kind {kind!r}")
        self._kinds[kind] = ExecutorSpec(_composite_only, True, executor)

    def register(self, kind: str, executor: NodeExecutor, *, inline: bool = False) -> None:
        """Register (or replace) the executor of a built-in kind."""
        if kind not in KIND_NAMES or kind == "Custom":
            raise ValueError(f"unknown kind {kind!r}; use register_custom() for plugin kinds")
        self._kinds[kind] = ExecutorSpec(executor, inline)

    def register_custom(
        self, plugin_id: str, executor: NodeExecutor, *, inline: bool = False
    ) -> None:
        """Register the executor of ``Custom`` nodes whose ``plugin_id`` is ``plugin_id``
        (they run on the ``control`` pool, or the queue the node names)."""
        if not plugin_id.strip():
            raise ValueError("plugin_id must not be empty")
        self._plugins[plugin_id] = ExecutorSpec(executor, inline)

    def plugins(self) -> list[str]:
        """Plugin ids registered explicitly or available as entry points."""
        names = set(self._plugins)
        if self._load_entry_points:
            names |= {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)}
        return sorted(names)

    def resolve(self, node: Node) -> ExecutorSpec:
        """The executor for ``node``; :class:`NodeNotAvailableError` if there is none."""
        kind = node.kind
        if isinstance(kind, CustomKind):
            return self._plugin(kind.config.plugin_id)
        spec = self._kinds.get(kind.type)
        if spec is None:
            feature = _PENDING_FEATURE.get(kind.type, "its executor")
            raise NodeNotAvailableError(
                f"{kind.type} nodes are not available in this installation: {feature} "
                "is not built yet"
            )
        return spec

    def _plugin(self, plugin_id: str) -> ExecutorSpec:
        spec = self._plugins.get(plugin_id)
        if spec is not None:
            return spec
        if self._load_entry_points:
            with self._lock:
                spec = self._plugins.get(plugin_id) or self._from_entry_point(plugin_id)
            if spec is not None:
                return spec
        known = ", ".join(self.plugins()) or "none"
        raise NodeNotAvailableError(
            f"no executor for Custom plugin '{plugin_id}' (registered plugins: {known}); "
            f"register one with NodeRegistry.register_custom() or the '{ENTRY_POINT_GROUP}' "
            "entry-point group"
        )

    def _from_entry_point(self, plugin_id: str) -> ExecutorSpec | None:
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if ep.name != plugin_id:
                continue
            try:
                obj: Any = ep.load()
            except Exception as e:
                raise NodeNotAvailableError(
                    f"Custom plugin '{plugin_id}': cannot load entry point {ep.value}: {e}"
                ) from e
            executor = obj() if isinstance(obj, type) else obj
            if not callable(executor):
                raise NodeNotAvailableError(
                    f"Custom plugin '{plugin_id}': entry point {ep.value} is not callable"
                )
            spec = ExecutorSpec(executor)
            self._plugins[plugin_id] = spec
            return spec
        return None
