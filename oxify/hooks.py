"""Extension points: subclass :class:`Hooks` and override what you need (all no-ops)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from oxify.events import Event
    from oxify.nodes.base import NodeContext


class Hooks:
    """Called by the runners. Exceptions raised by a hook are logged and ignored."""

    def on_event(self, event: Event) -> None:
        """Every event of every execution, in order."""

    def before_node(self, ctx: NodeContext) -> None:
        """Before each attempt of a node, on the thread that runs it."""

    def after_node(self, ctx: NodeContext, output: Any, error: BaseException | None) -> None:
        """After each attempt of a node (``error`` is set when it raised)."""
