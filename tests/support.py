"""Helpers for tests: build workflows tersely and record what executors did."""

from __future__ import annotations

import threading
import time
from typing import Any

from oxify.model import Workflow, parse_workflow
from oxify.nodes.base import NodeContext
from oxify.nodes.registry import NodeRegistry


def custom(plugin: str, **config: Any) -> dict[str, Any]:
    return {
        "type": "Custom",
        "config": {"plugin_id": plugin, "plugin_version": "1", "config": config},
    }


def value(v: Any) -> dict[str, Any]:
    return custom("oxify.value", value=v)


def expr(e: str) -> dict[str, Any]:
    return custom("oxify.expr", expression=e)


def if_else(expression: str, true_branch: str, false_branch: str) -> dict[str, Any]:
    return {
        "type": "IfElse",
        "config": {
            "expression": expression,
            "true_branch": true_branch,
            "false_branch": false_branch,
        },
    }


START = {"type": "Start"}
END = {"type": "End"}


def build(
    nodes: dict[str, Any], edges: list[tuple[str, str]] | str, **node_extra: dict[str, Any]
) -> Workflow:
    """``build({"start": START, "a": value(1), "end": END}, "start>a, a>end")``."""
    if isinstance(edges, str):
        pairs = [tuple(p.strip().split(">")) for p in edges.split(",") if p.strip()]
    else:
        pairs = list(edges)
    node_list = []
    for node_id, kind in nodes.items():
        node = {"id": node_id, "name": node_id, "kind": kind}
        node.update(node_extra.get(node_id, {}))
        node_list.append(node)
    return parse_workflow(
        {
            "metadata": {"name": "test"},
            "nodes": node_list,
            "edges": [{"from": a, "to": b} for a, b in pairs],
        }
    )


class Recorder:
    """A real executor (plugin ``test.record``) that logs every call and can sleep/fail."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []
        self.active = 0
        self.max_active = 0
        self.lock = threading.Lock()

    def __call__(self, ctx: NodeContext) -> Any:
        options = ctx.config.config or {}
        with self.lock:
            self.calls.append((ctx.node.id, ctx.attempt))
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            if options.get("sleep"):
                deadline = time.monotonic() + float(options["sleep"])
                while time.monotonic() < deadline and not ctx.cancelled():
                    time.sleep(0.005)
            return options.get("output", ctx.node.id)
        finally:
            with self.lock:
                self.active -= 1

    def count(self, node_id: str) -> int:
        return sum(1 for n, _ in self.calls if n == node_id)

    def registry(self) -> NodeRegistry:
        registry = NodeRegistry.default()
        registry.register_custom("test.record", self)
        return registry


def rec(**options: Any) -> dict[str, Any]:
    return custom("test.record", **options)


def counted_chain(tag: str, slow: float = 0, last: str = "{{b}}!", **extra: Any) -> Workflow:
    """start → a → b → c → end of ``test.count`` nodes tallied under ``tag`` (marks "a",
    "b", "c"); b takes ``slow`` seconds; the result is ``{"result": <c>}``. ``extra`` adds
    fields to nodes, as in :func:`build`."""

    def count(mark: str, output: str, seconds: float = 0) -> dict[str, Any]:
        return custom("test.count", tally=tag, mark=mark, output=output, seconds=seconds)

    nodes = {
        "start": START,
        "a": count("a", "{{x}}-a"),
        "b": count("b", "{{a}}+b", seconds=slow),
        "c": count("c", last),
        "end": {"type": "End", "config": {"outputs": {"result": "{{c}}"}}},
    }
    return build(nodes, "start>a, a>b, b>c, c>end", **extra)
