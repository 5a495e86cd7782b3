"""Small built-in ``Custom`` plugins (plugin ids ``oxify.*``), for examples, tests and
benchmarks, and as models for your own plugins.

- ``oxify.noop``: does nothing; output ``null``.
- ``oxify.value``: output is ``config.value`` with every ``{{...}}`` template rendered.
- ``oxify.expr``: output is the value of ``config.expression`` in the condition language
  (``x * 2 + 1``, ``lower(name)``, ``len(items) > 3``).
- ``oxify.sleep``: waits ``config.seconds`` (waking up early when cancelled), then outputs
  ``config.output`` (rendered).
- ``oxify.fail``: raises ``config.message``; with ``config.times`` = N it fails only the first
  N attempts (then outputs ``config.output``); ``config.retryable`` (default true) says
  whether the failure may be retried.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from oxify.engine.conditions import parse_condition
from oxify.errors import NodeError
from oxify.nodes.base import NodeContext

if TYPE_CHECKING:
    from oxify.nodes.registry import NodeRegistry


def _options(ctx: NodeContext) -> dict[str, Any]:
    config = getattr(ctx.config, "config", None)
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise NodeError(f"{ctx.node.label}: plugin config must be an object")
    return config


def _require(ctx: NodeContext, options: dict[str, Any], key: str) -> Any:
    if key not in options:
        raise NodeError(f"{ctx.node.label}: plugin config needs '{key}'")
    return options[key]


def noop(ctx: NodeContext) -> None:
    return None


def value(ctx: NodeContext) -> Any:
    return ctx.render_value(_require(ctx, _options(ctx), "value"))


def expr(ctx: NodeContext) -> Any:
    expression = _require(ctx, _options(ctx), "expression")
    if not isinstance(expression, str):
        raise NodeError(f"{ctx.node.label}: 'expression' must be a string")
    return parse_condition(expression).evaluate(ctx.scope)


def sleep(ctx: NodeContext) -> Any:
    options = _options(ctx)
    seconds = float(options.get("seconds", 0))
    ctx.cancel_event.wait(max(0.0, seconds))
    if ctx.cancelled():
        raise NodeError("cancelled while sleeping", retryable=False)
    return ctx.render_value(options.get("output"))


def fail(ctx: NodeContext) -> Any:
    options = _options(ctx)
    times = options.get("times")
    if isinstance(times, int) and ctx.attempt > times:
        return ctx.render_value(options.get("output"))
    message = str(options.get("message", "failed on purpose"))
    raise NodeError(message, retryable=bool(options.get("retryable", True)))


def register_utility(registry: NodeRegistry) -> None:
    """Register the ``oxify.*`` plugins on ``registry``."""
    registry.register_custom("oxify.noop", noop)
    registry.register_custom("oxify.value", value)
    registry.register_custom("oxify.expr", expr)
    registry.register_custom("oxify.sleep", sleep)
    registry.register_custom("oxify.fail", fail)
