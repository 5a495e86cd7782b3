"""Plugin modules for the pool-isolation tests: each worker pool loads one of them
(``OXIFY_PLUGINS=tests.pools.alpha``, ...) and no other process has it."""

from __future__ import annotations

import os
from typing import Any

from oxify.nodes.base import NodeContext


def tagged(tag: str) -> Any:
    """An executor that appends ``+<tag>`` to its upstream text and says who ran it."""

    def run(ctx: NodeContext) -> Any:
        options = ctx.config.config or {}
        seconds = float(options.get("seconds", 0))
        if seconds:
            ctx.cancel_event.wait(seconds)
        text = ctx.render(options.get("input", ""))
        return {"text": f"{text}+{tag}", "by": tag, "pid": os.getpid()}

    return run
