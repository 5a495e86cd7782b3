"""Scheduling, pruning, joins, results: the same answers in every runner."""

from __future__ import annotations

from pathlib import Path

import pytest

import oxify
from oxify import ExecutionState, NodeState
from tests.support import END, START, Recorder, build, custom, expr, if_else, rec, value

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_diamond_example(runner):
    result = runner.run(oxify.load_workflow(EXAMPLES / "diamond.json"), {"x": 3})
    assert result.state is ExecutionState.COMPLETED
    assert result.outputs == {"x": 3, "result": 15, "summary": "3*2 + 3^2 = 15"}
    assert result.node("double").output == 6
    assert result.node("square").output == 9
    assert all(n.state is NodeState.SUCCEEDED and n.attempts == 1 for n in result.nodes.values())


@pytest.mark.parametrize(
    ("inputs", "taken", "pruned"),
    [
        ({"name": "Ada", "score": 72, "disqualified": False}, "pass", "fail"),
        ({"name": "Bob", "score": 12, "disqualified": False}, "fail", "pass"),
        ({"name": "Cy", "score": 99, "disqualified": True}, "fail", "pass"),
    ],
)
def test_if_else_example_prunes_and_joins(runner, inputs, taken, pruned):
    result = runner.run(oxify.load_workflow(EXAMPLES / "if_else.json"), inputs)
    assert result.state is ExecutionState.COMPLETED
    assert result.nodes[taken].state is NodeState.SUCCEEDED
    assert result.nodes[pruned].state is NodeState.SKIPPED
    assert result.nodes[pruned].skip_reason == "branch_not_taken"
    assert result.nodes[pruned].attempts == 0
    passed = taken == "pass"
    assert result.node("check").output == {"result": passed, "branch": taken}
    assert result.outputs == {"report": {"name": inputs["name"], "passed": passed, "branch": taken}}


@pytest.mark.parametrize(
    ("lang", "route", "text"),
    [
        ("en", "english", "Hello, Ada!"),
        ("fr", "french", "Bonjour, Ada !"),
        ("pt", "iberian", "¡Hola, Ada!"),
        ("es", "iberian", "¡Hola, Ada!"),
        ("de", "other", "Hi Ada (de is not supported)"),
    ],
)
def test_switch_example(runner, lang, route, text):
    result = runner.run(
        oxify.load_workflow(EXAMPLES / "switch.yaml"), {"lang": lang, "name": "Ada"}
    )
    assert result.state is ExecutionState.COMPLETED
    assert result.outputs == {route: text}
    ran = {n for n, r in result.nodes.items() if r.state is NodeState.SUCCEEDED}
    assert ran == {"start", "route", route, "end"}
    assert result.node("route").output["route"] == route


def test_switch_without_match_or_default_prunes_every_routed_successor(runner):
    wf = build(
        {
            "start": START,
            "sw": {
                "type": "Switch",
                "config": {"switch_on": "{{v}}", "cases": [{"match_value": "a", "action": "a"}]},
            },
            "a": value("A"),
            "always": value("unrouted successors always run"),
            "end": END,
        },
        "start>sw, sw>a, sw>always, a>end, always>end",
    )
    result = runner.run(wf, {"v": "zzz"})
    assert result.state is ExecutionState.COMPLETED
    assert result.nodes["a"].state is NodeState.SKIPPED
    assert result.nodes["always"].state is NodeState.SUCCEEDED
    assert result.node("sw").output == {"value": "zzz", "matched_case": None, "route": None}


def test_switch_matches_non_string_values_by_their_json_text(runner):
    wf = build(
        {
            "start": START,
            "sw": {
                "type": "Switch",
                "config": {
                    "switch_on": "{{n}}",
                    "cases": [
                        {"match_value": "1", "action": "one"},
                        {"match_value": "2", "action": "two"},
                    ],
                },
            },
            "one": value(1),
            "two": value(2),
            "end": END,
        },
        "start>sw, sw>one, sw>two, one>end, two>end",
    )
    assert runner.run(wf, {"n": 2}).outputs == {"two": 2}


def test_a_catastrophic_switch_regex_fails_the_node_within_its_time_limit(runner):
    import time

    wf = build(
        {
            "start": START,
            "sw": {
                "type": "Switch",
                "config": {
                    "switch_on": "{{s}}",
                    "cases": [{"match_value": "regex:^(a|aa)+$", "action": "yes"}],
                    "default_case": "no",
                },
            },
            "yes": value("matched"),
            "no": value("no match"),
            "end": END,
        },
        "start>sw, sw>yes, sw>no, yes>end, no>end",
    )
    began = time.monotonic()
    result = runner.run(wf, {"s": "a" * 36 + "!"})  # ~fib(36) steps of backtracking
    assert time.monotonic() - began < 3.0
    assert result.state is ExecutionState.FAILED
    error = result.node("sw").error
    assert "regex:^(a|aa)+$" in error and "time limit" in error, error


def test_pruning_cascades_through_a_whole_branch_and_join_still_runs(runner):
    wf = build(
        {
            "start": START,
            "c": if_else("go", "t1", "f1"),
            "t1": value("t1"),
            "t2": value("t2"),
            "t3": value("t3"),
            "f1": value("f1"),
            "join": value("joined"),
            "end": END,
        },
        "start>c, c>t1, t1>t2, t2>t3, c>f1, t3>join, f1>join, join>end",
    )
    result = runner.run(wf, {"go": False})
    assert [result.nodes[n].state for n in ("t1", "t2", "t3")] == [NodeState.SKIPPED] * 3
    assert {result.nodes[n].skip_reason for n in ("t1", "t2", "t3")} == {"branch_not_taken"}
    assert result.nodes["f1"].state is NodeState.SUCCEEDED
    assert result.nodes["join"].state is NodeState.SUCCEEDED
    assert result.outputs == {"join": "joined"}


def test_nested_if_else(runner):
    wf = build(
        {
            "start": START,
            "outer": if_else("n > 10", "inner", "small"),
            "inner": if_else("n > 100", "huge", "big"),
            "small": value("small"),
            "huge": value("huge"),
            "big": value("big"),
            "end": END,
        },
        "start>outer, outer>inner, outer>small, inner>huge, inner>big, "
        "small>end, huge>end, big>end",
    )
    assert runner.run(wf, {"n": 5}).outputs == {"small": "small"}
    assert runner.run(wf, {"n": 50}).outputs == {"big": "big"}
    assert runner.run(wf, {"n": 500}).outputs == {"huge": "huge"}


def test_branch_targets_may_be_names(runner):
    wf = oxify.parse_workflow(
        {
            "nodes": [
                {"id": "s", "kind": START},
                {"id": "n1", "name": "check", "kind": if_else("ok", "Yes", "No")},
                {"id": "n2", "name": "Yes", "kind": value("y")},
                {"id": "n3", "name": "No", "kind": value("n")},
                {"id": "e", "kind": END},
            ],
            "edges": [
                {"from": a, "to": b}
                for a, b in [("s", "n1"), ("n1", "n2"), ("n1", "n3"), ("n2", "e"), ("n3", "e")]
            ],
        }
    )
    result = runner.run(wf, {"ok": True})
    assert result.outputs == {"Yes": "y"}
    assert result.nodes["n1"].output == {"result": True, "branch": "n2"}


def test_end_output_defaults_to_predecessor_outputs_by_name(runner):
    wf = build(
        {"start": START, "a": value(1), "b": value({"k": [1, 2]}), "end": END},
        "start>a, start>b, a>end, b>end",
    )
    assert runner.run(wf).outputs == {"a": 1, "b": {"k": [1, 2]}}


def test_start_output_is_the_inputs_and_templates_keep_types(runner):
    wf = build(
        {
            "start": START,
            "t": value(
                {
                    "whole": "{{items}}",
                    "first": "{{items[0]}}",
                    "text": "n={{n}} items={{items}}",
                    "via_start": "{{start.n}}",
                }
            ),
            "end": END,
        },
        "start>t, t>end",
    )
    result = runner.run(wf, {"n": 2, "items": [{"a": 1}, 2]})
    assert result.node("start").output == {"n": 2, "items": [{"a": 1}, 2]}
    assert result.node("t").output == {
        "whole": [{"a": 1}, 2],
        "first": {"a": 1},
        "text": 'n=2 items=[{"a":1},2]',
        "via_start": 2,
    }


def test_templates_reach_outputs_through_output_prefix_and_node_ids(runner):
    wf = oxify.parse_workflow(
        {
            "nodes": [
                {"id": "11111111-2222-3333-4444-555555555555", "name": "Fetch docs", "kind": START},
                {
                    "id": "a",
                    "name": "retrieve",
                    "kind": value({"results": [{"text": "one"}, {"text": "two"}]}),
                },
                {
                    "id": "b",
                    "name": "use",
                    "kind": value(
                        {
                            "by_name": "{{retrieve.results[1].text}}",
                            "with_output": "{{retrieve.output.results[0].text}}",
                            "by_id": "{{a.results[-1].text}}",
                            "count": "{{ retrieve.results }}",
                        }
                    ),
                },
                {"id": "e", "kind": END},
            ],
            "edges": [
                {"from": "11111111-2222-3333-4444-555555555555", "to": "a"},
                {"from": "a", "to": "b"},
                {"from": "b", "to": "e"},
            ],
        }
    )
    out = runner.run(wf).node("use").output
    assert out == {
        "by_name": "two",
        "with_output": "one",
        "by_id": "two",
        "count": [{"text": "one"}, {"text": "two"}],
    }


def test_missing_template_name_fails_the_node_naming_it(runner):
    wf = build({"start": START, "t": value("hello {{nobody}}"), "end": END}, "start>t, t>end")
    result = runner.run(wf)
    assert result.state is ExecutionState.FAILED
    assert result.nodes["t"].state is NodeState.FAILED
    assert "nobody" in result.nodes["t"].error and "'t'" in result.nodes["t"].error
    assert "nobody" in result.error
    assert result.nodes["t"].attempts == 1  # not retryable


def test_condition_reads_node_outputs_by_name(runner):
    wf = build(
        {
            "start": START,
            "classify": value({"label": "spam", "score": 0.93}),
            "gate": if_else('classify.label == "spam" && classify.score > 0.9', "drop", "keep"),
            "drop": value("dropped"),
            "keep": value("kept"),
            "end": END,
        },
        "start>classify, classify>gate, gate>drop, gate>keep, drop>end, keep>end",
    )
    assert runner.run(wf).outputs == {"drop": "dropped"}


def test_unreachable_root_nodes_still_run(runner):
    wf = build(
        {"start": START, "a": value("a"), "orphan": value("o"), "end": END},
        "start>a, a>end, orphan>end",
    )
    result = runner.run(wf)
    assert result.nodes["orphan"].state is NodeState.SUCCEEDED
    assert result.outputs == {"a": "a", "orphan": "o"}


def test_max_concurrency_is_respected(runner):
    runner.embedded_only("max_concurrent_nodes bounds the embedded thread pool")
    recorder = Recorder()
    nodes = {"start": START, **{f"n{i}": rec(sleep=0.05) for i in range(8)}, "end": END}
    edges = ", ".join([f"start>n{i}" for i in range(8)] + [f"n{i}>end" for i in range(8)])
    result = runner.run(build(nodes, edges), registry=recorder.registry(), max_concurrent_nodes=3)
    assert result.state is ExecutionState.COMPLETED
    assert recorder.max_active == 3
    assert len(recorder.calls) == 8


def test_outputs_are_isolated_json_copies(runner):
    wf = build(
        {"start": START, "a": value({"list": [1]}), "b": custom("test.mutate"), "end": END},
        "start>a, a>b, b>end",
    )
    result = runner.run(wf)
    assert result.node("a").output == {"list": [1]}
    assert result.node("b").output == {"list": [1, "mutated"]}


def test_non_json_output_fails_the_node(runner):
    wf = build({"start": START, "o": custom("test.object"), "end": END}, "start>o, o>end")
    result = runner.run(wf)
    assert result.state is ExecutionState.FAILED
    assert "not JSON-serializable" in result.nodes["o"].error


def test_expression_plugin_computes(runner):
    wf = build({"start": START, "e": expr("len(name) * 10 + n % 7"), "end": END}, "start>e, e>end")
    assert runner.run(wf, {"name": "abc", "n": 23}).outputs == {"e": 32}
