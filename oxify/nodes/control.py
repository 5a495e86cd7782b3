"""Executors of the control kinds: Start, End, IfElse, Switch."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from oxify.engine import regex_case
from oxify.errors import NodeError
from oxify.model.kinds import ConditionConfig, EndConfig, SwitchConfig
from oxify.nodes.base import NodeContext, Routed

if TYPE_CHECKING:
    from oxify.nodes.registry import NodeRegistry


def start(ctx: NodeContext) -> Any:
    """Start's output is the workflow's inputs."""
    return dict(ctx.inputs)


def end(ctx: NodeContext) -> Any:
    """End's output is the workflow's result.

    With ``config.outputs`` (an oxify extension) it is that mapping, rendered. Otherwise it is
    the outputs of End's direct predecessors that ran, keyed by node name (by id when two of
    them share a name).
    """
    config = ctx.config
    if isinstance(config, EndConfig) and config.outputs is not None:
        return ctx.render_value(config.outputs)
    nodes = ctx.workflow.nodes_by_id
    names = [nodes[i].name for i in ctx.upstream]
    return {
        (nodes[i].name if names.count(nodes[i].name) == 1 else i): out
        for i, out in ctx.upstream.items()
    }


def _target(ctx: NodeContext, ref: str) -> str:
    """A route target (node id or unique name) as a node id; checked by validation."""
    if ref in ctx.workflow.nodes_by_id:
        return ref
    ids = [n.id for n in ctx.workflow.nodes if n.name == ref]
    if len(ids) != 1:
        raise NodeError(f"route target '{ref}' names no single node")
    return ids[0]


def _routes(ctx: NodeContext, chosen: list[str], routed: set[str]) -> tuple[str, ...]:
    """Chosen targets plus the successors no route names (those always run)."""
    return tuple(s for s in ctx.successors if s in chosen or s not in routed)


def if_else(ctx: NodeContext) -> Routed:
    """Evaluate the condition; route to ``true_branch`` or ``false_branch``."""
    config = ctx.config
    assert isinstance(config, ConditionConfig)
    result = ctx.evaluate(config.expression)
    true_id, false_id = _target(ctx, config.true_branch), _target(ctx, config.false_branch)
    branch = true_id if result else false_id
    return Routed({"result": result, "branch": branch}, _routes(ctx, [branch], {true_id, false_id}))


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _render_ref(ctx: NodeContext, ref: str) -> str:
    return _as_text(ctx.render(ref)) if "{{" in ref else ref


def switch(ctx: NodeContext) -> Routed:
    """Route to the ``action`` of the first case whose ``match_value`` matches ``switch_on``
    (exact text, or ``regex:<pattern>`` searched in the text), else to ``default_case``."""
    config = ctx.config
    assert isinstance(config, SwitchConfig)
    value = ctx.render(config.switch_on)
    text = _as_text(value)
    routed = {_target(ctx, _render_ref(ctx, c.action)) for c in config.cases}
    if config.default_case is not None:
        routed.add(_target(ctx, _render_ref(ctx, config.default_case)))
    for index, case in enumerate(config.cases):
        if case.match_value.startswith(regex_case.PREFIX):
            matched = regex_case.search(index, case.match_value[len(regex_case.PREFIX) :], text)
        else:
            matched = text == case.match_value
        if matched:
            target = _target(ctx, _render_ref(ctx, case.action))
            output = {"value": value, "matched_case": index, "route": target}
            return Routed(output, _routes(ctx, [target], routed))
    if config.default_case is not None:
        target = _target(ctx, _render_ref(ctx, config.default_case))
        return Routed(
            {"value": value, "matched_case": None, "route": target}, _routes(ctx, [target], routed)
        )
    return Routed({"value": value, "matched_case": None, "route": None}, _routes(ctx, [], routed))


def register_control(registry: NodeRegistry) -> None:
    """Register Start, End, IfElse and Switch (cheap and pure: they run inline)."""
    registry.register("Start", start, inline=True)
    registry.register("End", end, inline=True)
    registry.register("IfElse", if_else, inline=True)
    registry.register("Switch", switch, inline=True)
