"""The Python API: options, plugins (explicit and entry points), registry errors."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

import oxify
from oxify import ConfigError, ExecutionConfig, ExecutionState
from oxify.errors import NodeNotAvailableError
from tests.support import END, START, build, custom, value

SIMPLE = build({"start": START, "a": value("{{x}}"), "end": END}, "start>a, a>end")


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"mode": "sideways"}, "mode"),
        ({"max_concurrent_nodes": 0}, "max_concurrent_nodes"),
        ({"timeout": -1}, "timeout"),
        ({"node_timeout": 0}, "node_timeout"),
        ({"checkpoint_frequency": "hourly"}, "checkpoint_frequency"),
        ({"max_concurent_nodes": 3}, "max_concurent_nodes"),
    ],
)
def test_bad_options_raise_config_error(options, fragment):
    with pytest.raises(ConfigError, match=fragment):
        oxify.Engine().run(SIMPLE, {"x": 1}, **options)


def test_checkpoints_are_taken_at_the_frequency_asked():
    engine = oxify.Engine()
    config = ExecutionConfig(checkpoint_frequency="every_n_nodes:1")
    result = engine.run(SIMPLE, {"x": 1}, config)
    listed = engine.checkpoint_list(result.execution_id)
    assert listed[-1]["reason"] == "completed"
    assert [c["finished_nodes"] for c in listed] == sorted(c["finished_nodes"] for c in listed)


def test_config_and_keyword_options_are_exclusive():
    with pytest.raises(ConfigError, match="either config= or keyword options"):
        oxify.Engine().run(SIMPLE, {"x": 1}, ExecutionConfig(), mode="dataflow")


def test_inputs_must_be_json():
    with pytest.raises(ConfigError, match="JSON"):
        oxify.Engine().run(SIMPLE, {"x": object()})


def test_invalid_workflow_is_rejected_before_running():
    wf = build({"start": START, "a": value(1)}, "start>a")
    with pytest.raises(oxify.ValidationError) as info:
        oxify.Engine().run(wf)
    assert [i.code for i in info.value.issues if i.severity == "error"] == ["missing_end"]


def test_run_accepts_a_path(tmp_path: Path):
    path = tmp_path / "wf.yaml"
    oxify.save_workflow(SIMPLE, path)
    result = oxify.Engine().run(str(path), {"x": [1, 2]})
    assert result.outputs == {"a": [1, 2]}
    assert result.to_dict()["nodes"]["a"]["output"] == [1, 2]


def test_plan_is_cached_per_definition():
    engine = oxify.Engine()
    first = engine.plan(SIMPLE)
    again = oxify.parse_workflow(oxify.model.workflow_to_data(SIMPLE))
    assert engine.plan(again) is first
    assert engine.plans.hits >= 1


def test_register_custom_and_kind_override():
    registry = oxify.NodeRegistry.default(load_entry_points=False)
    registry.register_custom("acme.upper", lambda ctx: ctx.render("{{x}}").upper())
    wf = build({"start": START, "u": custom("acme.upper"), "end": END}, "start>u, u>end")
    assert oxify.Engine(registry=registry).run(wf, {"x": "hi"}).outputs == {"u": "HI"}
    with pytest.raises(ValueError, match="register_custom"):
        registry.register("Custom", lambda ctx: None)
    with pytest.raises(ValueError, match="unknown kind"):
        registry.register("Nope", lambda ctx: None)

    # a built-in kind can be given an executor: here a fake LLM that echoes its prompt
    registry.register("LLM", lambda ctx: {"response": ctx.render(ctx.config.prompt_template)})
    llm = {
        "type": "LLM",
        "config": {"provider": "echo", "model": "m", "prompt_template": "say {{x}}"},
    }
    wf = build({"start": START, "l": llm, "end": END}, "start>l, l>end")
    assert oxify.Engine(registry=registry).run(wf, {"x": "hi"}).outputs == {
        "l": {"response": "say hi"}
    }


def _install_entry_point(root: Path, body: str, target: str) -> None:
    (root / "acme_nodes.py").write_text(textwrap.dedent(body))
    info = root / "acme_nodes-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-nodes\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[oxify.nodes]\n{target}\n")


def test_entry_point_plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    _install_entry_point(
        tmp_path,
        """
        class Greeter:
            pool = "tool"
            def __call__(self, ctx):
                return "hello " + ctx.inputs["who"]

        def broken(ctx):
            raise RuntimeError("never")
        """,
        "acme.greet = acme_nodes:Greeter\nacme.missing = acme_nodes:not_there",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = oxify.NodeRegistry.default()
    assert {"acme.greet", "acme.missing", "oxify.noop"} <= set(registry.plugins())
    wf = build({"start": START, "g": custom("acme.greet"), "end": END}, "start>g, g>end")
    result = oxify.Engine(registry=registry).run(wf, {"who": "Ada"})
    assert result.outputs == {"g": "hello Ada"}
    # where it runs is the node's business ("queue"), not the plugin's: a process that
    # drives the execution does not have the plugin
    node = wf.nodes_by_id["g"]

    bad = build({"start": START, "m": custom("acme.missing"), "end": END}, "start>m, m>end")
    failed = oxify.Engine(registry=registry).run(bad)
    assert failed.state is ExecutionState.FAILED
    assert "cannot load entry point acme_nodes:not_there" in failed.node("m").error

    no_eps = oxify.NodeRegistry.default(load_entry_points=False)
    with pytest.raises(NodeNotAvailableError, match=r"acme\.greet"):
        no_eps.resolve(node)
