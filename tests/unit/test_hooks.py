"""Hooks are isolated: a hook that raises is logged and fails nothing; hooks can be given
to any process by ``OXIFY_HOOKS=module:factory``."""

from __future__ import annotations

import logging
from typing import Any

import pytest

import oxify
from oxify import ExecutionState
from tests.support import END, START, build, value


class Broken(oxify.Hooks):
    def __init__(self) -> None:
        self.events: list[str] = []

    def on_event(self, event: oxify.Event) -> None:
        self.events.append(event.type)
        raise RuntimeError("on_event is broken")

    def before_node(self, ctx: oxify.NodeContext) -> None:
        raise RuntimeError("before_node is broken")

    def after_node(self, ctx: oxify.NodeContext, output: Any, error: BaseException | None) -> None:
        raise RuntimeError("after_node is broken")


@pytest.mark.parametrize("mode", ["levels", "dataflow"])
def test_a_raising_hook_is_logged_and_fails_no_node(mode, caplog):
    hooks = Broken()
    wf = build({"start": START, "a": value("{{x}}"), "end": END}, "start>a, a>end")
    with caplog.at_level(logging.ERROR, logger="oxify"):
        result = oxify.Engine(hooks=hooks).run(wf, {"x": 1}, mode=mode)
    assert result.state is ExecutionState.COMPLETED, result.error
    assert result.node("a").output == 1
    assert hooks.events[0] == "workflow.started" and hooks.events[-1] == "workflow.completed"
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "before_node" in messages and "after_node" in messages and "on_event" in messages


def test_hooks_from_the_environment(monkeypatch):
    from oxify.config import Settings, load_hooks

    monkeypatch.setenv("OXIFY_HOOKS", "tests.unit.test_hooks:make_broken")
    hooks = load_hooks(Settings.from_env().hooks)
    assert isinstance(hooks, Broken)
    monkeypatch.setenv("OXIFY_HOOKS", "tests.unit.test_hooks:nothing_here")
    with pytest.raises(oxify.ConfigError, match="nothing_here"):
        load_hooks(Settings.from_env().hooks)


def make_broken() -> oxify.Hooks:
    return Broken()


class Counting(oxify.Hooks):
    def __init__(self) -> None:
        self.calls: list[str] = []

    def on_event(self, event: oxify.Event) -> None:
        self.calls.append("event")

    def before_node(self, ctx: oxify.NodeContext) -> None:
        self.calls.append("before")

    def after_node(self, ctx: oxify.NodeContext, output: Any, error: BaseException | None) -> None:
        self.calls.append("after")


def test_several_hooks_from_the_environment_are_chained_and_isolated(monkeypatch):
    from oxify.config import Settings, load_hooks

    monkeypatch.setenv(
        "OXIFY_HOOKS", "tests.unit.test_hooks:make_broken, tests.unit.test_hooks:Counting"
    )
    chain = load_hooks(Settings.from_env().hooks)
    wf = build({"start": START, "a": value("{{x}}"), "end": END}, "start>a, a>end")
    result = oxify.Engine(hooks=chain).run(wf, {"x": 1})
    assert result.state is ExecutionState.COMPLETED
    counting = chain.hooks[1]  # type: ignore[attr-defined]
    assert counting.calls.count("before") == counting.calls.count("after") == 3
    assert counting.calls.count("event") == len(chain.hooks[0].events)  # type: ignore[attr-defined]
