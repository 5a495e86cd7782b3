"""Extension points: subclass :class:`Hooks` and override what you need (all no-ops).

A process gets its hooks from code (``Engine(hooks=...)``, ``Client(hooks=...)``) or, for
workers and orchestrators, from ``OXIFY_HOOKS=module:factory[,module:factory]`` (each
factory is called once and returns a :class:`Hooks`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from oxify.events import Event
    from oxify.nodes.base import NodeContext, NodeExecutor


class Hooks:
    """Called by the runners. Exceptions raised by a hook are logged and ignored."""

    def on_event(self, event: Event) -> None:
        """Every event of every execution, in order."""

    def before_node(self, ctx: NodeContext) -> None:
        """Before each attempt of a node, on the thread that runs it."""

    def after_node(self, ctx: NodeContext, output: Any, error: BaseException | None) -> None:
        """After each attempt of a node (``error`` is set when it raised)."""


log = logging.getLogger("oxify")


class HookChain(Hooks):
    """Several hooks, called in order; one that raises is logged and the others still run."""

    def __init__(self, hooks: Sequence[Hooks]) -> None:
        self.hooks = list(hooks)

    def on_event(self, event: Event) -> None:
        for hook in self.hooks:
            try:
                hook.on_event(event)
            except Exception:
                log.exception("on_event hook %s failed", type(hook).__name__)

    def before_node(self, ctx: NodeContext) -> None:
        for hook in self.hooks:
            try:
                hook.before_node(ctx)
            except Exception:
                log.exception("before_node hook %s failed", type(hook).__name__)

    def after_node(self, ctx: NodeContext, output: Any, error: BaseException | None) -> None:
        for hook in self.hooks:
            try:
                hook.after_node(ctx, output, error)
            except Exception:
                log.exception("after_node hook %s failed", type(hook).__name__)


def call_executor(
    executor: NodeExecutor, ctx: NodeContext, hooks: Hooks
) -> tuple[Any, BaseException | None]:
    """Run an executor with the hooks around it; never raises. A hook that raises is
    logged and changes nothing."""
    output: Any = None
    error: BaseException | None = None
    try:
        hooks.before_node(ctx)
    except Exception:
        log.exception("before_node hook failed (node %s)", ctx.node.id)
    try:
        output = executor(ctx)
    except Exception as e:
        error = e
    try:
        hooks.after_node(ctx, output, error)
    except Exception:
        log.exception("after_node hook failed (node %s)", ctx.node.id)
    return output, error
