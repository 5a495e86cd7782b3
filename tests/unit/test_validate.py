"""Validation: one test per rule of the README table, each issue's code, severity, node and path."""

from __future__ import annotations

import itertools
import re
from typing import Any

import pytest

import oxify
from oxify.engine.validate import ValidationReport, ensure_valid, validate
from oxify.errors import ValidationError
from oxify.model import Issue, Workflow, parse_workflow
from tests.support import END, START, build, custom, if_else, value


# -- helpers ----------------------------------------------------------------------------------
def report_of(wf: Workflow) -> ValidationReport:
    report = oxify.validate(wf)
    assert len(report.issues) == len(report.errors) + len(report.warnings)
    assert report.ok == (not report.errors)
    return report


def only(wf: Workflow, code: str) -> Issue:
    """The single issue of ``wf``; it must have ``code``."""
    issues = report_of(wf).issues
    assert [i.code for i in issues] == [code], [str(i) for i in issues]
    return issues[0]


def llm(prompt: str = "Answer {{q}}", **config: Any) -> dict[str, Any]:
    return {
        "type": "LLM",
        "config": {"provider": "openai", "model": "gpt-4", "prompt_template": prompt, **config},
    }


def switch(on: str, cases: list[tuple[str, str]], default: str | None = None) -> dict[str, Any]:
    config: dict[str, Any] = {
        "switch_on": on,
        "cases": [{"match_value": m, "action": a} for m, a in cases],
    }
    if default is not None:
        config["default_case"] = default
    return {"type": "Switch", "config": config}


def kind(type_: str, **config: Any) -> dict[str, Any]:
    return {"type": type_, "config": config}


def chain(middle: dict[str, Any], **extra: dict[str, Any]) -> Workflow:
    """start -> node -> end."""
    return build({"start": START, "node": middle, "end": END}, "start>node, node>end", **extra)


def raw(nodes: list[dict[str, Any]], edges: list[tuple[str, str]]) -> Workflow:
    return parse_workflow({"nodes": nodes, "edges": [{"from": a, "to": b} for a, b in edges]})


def n(node_id: str, kind_: dict[str, Any], name: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"id": node_id, "kind": kind_}
    if name is not None:
        out["name"] = name
    return out


def cycle_in(message: str) -> list[str]:
    """Node labels of 'cycle: a -> b -> a'."""
    return message.split(": ", 1)[1].split(" -> ")


# -- the reference cases ----------------------------------------------------------------------
def test_examples_are_valid_without_warnings() -> None:
    for name in ("diamond.json", "if_else.json", "switch.yaml"):
        report = oxify.validate(oxify.load_workflow(f"examples/{name}"))
        assert report.ok, name
        assert report.issues == [], [str(i) for i in report.issues]


# -- shape codes (raised by the loader) -------------------------------------------------------
class TestShapeCodes:
    def test_schema(self) -> None:
        with pytest.raises(ValidationError) as info:
            raw([n("start", START), n("end", {"type": "End", "config": {"outputs": [1]}})], [])
        [issue] = [i for i in info.value.issues if i.code == "schema"]
        assert issue.severity == "error"
        assert issue.path == "$.nodes[1].kind.config.outputs"
        assert issue.node_id == "end"

    def test_missing_field(self) -> None:
        with pytest.raises(ValidationError) as info:
            raw([n("start", START), n("ask", kind("LLM", provider="x", prompt_template="hi"))], [])
        [issue] = [i for i in info.value.issues if i.code == "missing_field"]
        assert issue.path == "$.nodes[1].kind.config.model"
        assert issue.node_id == "ask"
        assert "'model'" in issue.message

    def test_unknown_kind(self) -> None:
        with pytest.raises(ValidationError) as info:
            raw([n("start", START), n("x", {"type": "Agent"})], [])
        [issue] = [i for i in info.value.issues if i.code == "unknown_kind"]
        assert issue.path == "$.nodes[1].kind"
        assert issue.node_id == "x"
        assert "'Agent'" in issue.message and "IfElse" in issue.message


# -- structure errors -------------------------------------------------------------------------
class TestStructure:
    def test_empty_workflow(self) -> None:
        issue = only(raw([], []), "empty_workflow")
        assert (issue.severity, issue.path, issue.node_id) == ("error", "$.nodes", None)

    def test_empty_id(self) -> None:
        wf = raw([n("start", START), n("  ", value(1)), n("end", END)], [])
        issues = [i for i in report_of(wf).issues if i.code == "empty_id"]
        assert len(issues) == 1
        assert (issues[0].severity, issues[0].path) == ("error", "$.nodes[1].id")

    def test_duplicate_id(self) -> None:
        wf = raw(
            [n("start", START), n("a", value(1)), n("end", END), n("start", value(2), "copy")],
            [("start", "a"), ("a", "end")],
        )
        issue = only(wf, "duplicate_id")
        assert issue.severity == "error"
        assert issue.path == "$.nodes[3].id"
        assert issue.node_id == "start"
        assert "'start'" in issue.message

    def test_duplicate_id_of_a_node_with_an_incoming_edge(self) -> None:
        wf = raw(
            [n("start", START), n("a", value(1)), n("end", END), n("end", value(2))],
            [("start", "a"), ("a", "end")],
        )
        issue = only(wf, "duplicate_id")
        assert issue.path == "$.nodes[3].id"

    def test_missing_start(self) -> None:
        wf = raw([n("a", value(1)), n("end", END)], [("a", "end")])
        issue = only(wf, "missing_start")
        assert (issue.severity, issue.path, issue.node_id) == ("error", "$.nodes", None)
        assert "Start" in issue.message

    def test_missing_end(self) -> None:
        wf = raw([n("start", START), n("a", value(1))], [("start", "a")])
        issues = report_of(wf).issues
        assert [(i.code, i.severity) for i in issues if i.severity == "error"] == [
            ("missing_end", "error")
        ]
        assert issues[0].path == "$.nodes"
        # a is now a dead end, which is only a warning
        assert [i.code for i in report_of(wf).warnings] == ["dead_end"]

    def test_multiple_start(self) -> None:
        wf = raw(
            [n("s1", START), n("s2", START), n("end", END)],
            [("s1", "end"), ("s2", "end")],
        )
        issue = only(wf, "multiple_start")
        assert issue.severity == "error"
        assert issue.node_id == "s2"
        assert issue.path == "$.nodes[1].kind"
        assert "s1" in issue.message

    def test_multiple_end(self) -> None:
        wf = raw(
            [n("start", START), n("e1", END), n("e2", END, name="Second")],
            [("start", "e1"), ("start", "e2")],
        )
        issue = only(wf, "multiple_end")
        assert (issue.node_id, issue.node_name) == ("e2", "Second")
        assert issue.path == "$.nodes[2].kind"

    def test_start_has_inputs(self) -> None:
        wf = raw(
            [n("a", value(1)), n("start", START), n("end", END)],
            [("a", "start"), ("start", "end")],
        )
        errors = report_of(wf).errors
        assert [i.code for i in errors] == ["start_has_inputs"]
        assert (errors[0].node_id, errors[0].path) == ("start", "$.nodes[1]")

    def test_end_has_outputs(self) -> None:
        wf = raw(
            [n("start", START), n("end", END), n("after", value(1))],
            [("start", "end"), ("end", "after")],
        )
        errors = report_of(wf).errors
        assert [i.code for i in errors] == ["end_has_outputs"]
        assert (errors[0].node_id, errors[0].path) == ("end", "$.nodes[1]")

    def test_unknown_node_in_edges(self) -> None:
        wf = raw(
            [n("start", START), n("end", END)],
            [("start", "end"), ("start", "ghost"), ("phantom", "end")],
        )
        issues = report_of(wf).issues
        assert [(i.code, i.path, i.node_id) for i in issues] == [
            ("unknown_node", "$.edges[1].to", None),
            ("unknown_node", "$.edges[2].from", None),
        ]
        assert "'ghost'" in issues[0].message
        assert "'phantom'" in issues[1].message

    def test_self_loop(self) -> None:
        wf = build({"start": START, "a": value(1), "end": END}, "start>a, a>a, a>end")
        issue = only(wf, "self_loop")
        assert (issue.severity, issue.node_id, issue.path) == ("error", "a", "$.edges[1]")

    def test_cycle_is_named_node_by_node(self) -> None:
        wf = build(
            {"start": START, "a": value(1), "b": value(2), "c": value(3), "end": END},
            "start>a, a>b, b>c, c>a, c>end",
        )
        issue = only(wf, "cycle")
        assert issue.severity == "error"
        labels = cycle_in(issue.message)
        assert labels[0] == labels[-1]
        assert set(labels) == {"a", "b", "c"}
        edges = {(e.source, e.target) for e in wf.edges}
        assert all(pair in edges for pair in itertools.pairwise(labels))
        assert issue.node_id == labels[0]
        assert issue.path == f"$.nodes[{[x.id for x in wf.nodes].index(labels[0])}]"

    def test_cycle_message_uses_names(self) -> None:
        wf = raw(
            [
                n("start", START),
                n("id-a", value(1), name="Alpha"),
                n("id-b", value(2), name="Beta"),
                n("end", END),
            ],
            [("start", "id-a"), ("id-a", "id-b"), ("id-b", "id-a"), ("id-b", "end")],
        )
        issue = only(wf, "cycle")
        assert "'Alpha' (id-a)" in issue.message
        assert "'Beta' (id-b)" in issue.message


# -- routes -----------------------------------------------------------------------------------
class TestRoutes:
    def test_if_else_branch_that_exists_but_is_not_a_successor(self) -> None:
        wf = build(
            {
                "start": START,
                "check": if_else("x > 1", "yes", "no"),
                "yes": value(1),
                "no": value(2),
                "end": END,
            },
            "start>check, check>yes, start>no, yes>end, no>end",
        )
        issue = only(wf, "route_not_successor")
        assert issue.severity == "error"
        assert issue.node_id == "check"
        assert issue.path == "$.nodes[1].kind.config.false_branch"
        assert "no" in issue.message and "direct successor" in issue.message

    def test_if_else_branch_to_an_unknown_node(self) -> None:
        wf = build(
            {
                "start": START,
                "check": if_else("x > 1", "yes", "nowhere"),
                "yes": value(1),
                "end": END,
            },
            "start>check, check>yes, yes>end",
        )
        issue = only(wf, "unknown_node")
        assert issue.node_id == "check"
        assert issue.path == "$.nodes[1].kind.config.false_branch"
        assert "'nowhere'" in issue.message

    def test_branches_may_name_nodes_by_name(self) -> None:
        wf = raw(
            [
                n("start", START),
                n("check", if_else("x > 1", "Yes branch", "n-2")),
                n("n-1", value(1), name="Yes branch"),
                n("n-2", value(2), name="No branch"),
                n("end", END),
            ],
            [
                ("start", "check"),
                ("check", "n-1"),
                ("check", "n-2"),
                ("n-1", "end"),
                ("n-2", "end"),
            ],
        )
        assert report_of(wf).issues == []

    def test_switch_case_action_not_a_successor(self) -> None:
        wf = build(
            {
                "start": START,
                "route": switch("{{lang}}", [("en", "english"), ("fr", "french")], "other"),
                "english": value("hi"),
                "french": value("salut"),
                "other": value("?"),
                "end": END,
            },
            "start>route, route>english, start>french, route>other, "
            "english>end, french>end, other>end",
        )
        issue = only(wf, "route_not_successor")
        assert issue.node_id == "route"
        assert issue.path == "$.nodes[1].kind.config.cases[1].action"
        assert "french" in issue.message

    def test_switch_default_not_a_successor(self) -> None:
        wf = build(
            {
                "start": START,
                "route": switch("{{lang}}", [("en", "english")], "other"),
                "english": value("hi"),
                "other": value("?"),
                "end": END,
            },
            "start>route, route>english, start>other, english>end, other>end",
        )
        issue = only(wf, "route_not_successor")
        assert issue.path == "$.nodes[1].kind.config.default_case"


# -- expressions ------------------------------------------------------------------------------
class TestExpressions:
    def test_invalid_condition_carries_the_position(self) -> None:
        wf = build(
            {
                "start": START,
                "check": if_else("score >= ", "a", "b"),
                "a": value(1),
                "b": value(2),
                "end": END,
            },
            "start>check, check>a, check>b, a>end, b>end",
        )
        issue = only(wf, "invalid_condition")
        assert issue.severity == "error"
        assert issue.node_id == "check"
        assert issue.path == "$.nodes[1].kind.config.expression"
        match = re.search(r"at position (\d+)", issue.message)
        assert match is not None, issue.message
        assert int(match.group(1)) == len("score >= ")

    def test_invalid_condition_position_points_at_the_bad_token(self) -> None:
        wf = build(
            {
                "start": START,
                "check": if_else("a && ) b", "x", "y"),
                "x": value(1),
                "y": value(2),
                "end": END,
            },
            "start>check, check>x, check>y, x>end, y>end",
        )
        issue = only(wf, "invalid_condition")
        assert "at position 5" in issue.message

    def test_invalid_template(self) -> None:
        wf = chain(llm("Answer {{ question "))
        issue = only(wf, "invalid_template")
        assert issue.severity == "error"
        assert issue.node_id == "node"
        assert issue.path == "$.nodes[1].kind.config.prompt_template"
        assert "position" in issue.message

    def test_template_naming_a_node_that_is_not_upstream(self) -> None:
        wf = build(
            {
                "start": START,
                "ask": llm("Use {{ later.text }} for {{q}}"),
                "later": value(1),
                "end": END,
            },
            "start>ask, ask>later, later>end",
        )
        issue = only(wf, "template_not_upstream")
        assert issue.severity == "error"
        assert issue.node_id == "ask"
        assert issue.path == "$.nodes[1].kind.config.prompt_template"
        assert "{{later.text}}" in issue.message
        assert "later" in issue.message

    def test_template_naming_a_sibling_branch(self) -> None:
        wf = build(
            {
                "start": START,
                "left": value(1),
                "right": llm("{{left}}"),
                "end": END,
            },
            "start>left, start>right, left>end, right>end",
        )
        assert only(wf, "template_not_upstream").node_id == "right"

    def test_template_naming_an_upstream_node_by_name_or_output_is_fine(self) -> None:
        wf = raw(
            [
                n("start", START),
                n("n-1", value({"text": "t"}), name="Retrieve docs"),
                n("n-2", llm("{{Retrieve docs.text}} {{n-1.output.text}} {{question}}")),
                n("end", END),
            ],
            [("start", "n-1"), ("n-1", "n-2"), ("n-2", "end")],
        )
        assert report_of(wf).issues == []

    def test_end_output_templates_are_checked(self) -> None:
        wf = build(
            {
                "start": START,
                "a": value(1),
                "end": {"type": "End", "config": {"outputs": {"r": "{{b}}"}}},
                "b": value(2),
            },
            "start>a, a>end, start>b",
        )
        errors = report_of(wf).errors
        assert [(i.code, i.node_id, i.path) for i in errors] == [
            ("template_not_upstream", "end", "$.nodes[2].kind.config.outputs.r")
        ]

    def test_condition_naming_a_node_that_is_not_upstream(self) -> None:
        wf = build(
            {
                "start": START,
                "check": if_else("later.x > 1", "a", "b"),
                "a": value(1),
                "b": value(2),
                "later": value(3),
                "end": END,
            },
            "start>check, check>a, check>b, a>later, b>later, later>end",
        )
        issue = only(wf, "condition_not_upstream")
        assert issue.node_id == "check"
        assert issue.path == "$.nodes[1].kind.config.expression"
        assert "later" in issue.message


UPSTREAM_UUID = "3b6a4d2f-8c5e-4f90-8b2c-4d6e8f0a2b3c"
DOWNSTREAM_UUID = "f726a3e5-481a-45bc-a7e8-a32a45c6f7f8"


def uuid_routed(expression: str) -> Workflow:
    """start -> calc(UUID) -> check(IfElse) -> a|b -> later(UUID) -> end."""
    return raw(
        [
            n("start", START),
            n(UPSTREAM_UUID, value({"score": 7}), name="calc"),
            n("check", if_else(expression, "a", "b")),
            n("a", value("A")),
            n("b", value("B")),
            n(DOWNSTREAM_UUID, value({"x": 1}), name="later"),
            n("end", END),
        ],
        [
            ("start", UPSTREAM_UUID),
            (UPSTREAM_UUID, "check"),
            ("check", "a"),
            ("check", "b"),
            ("a", DOWNSTREAM_UUID),
            ("b", DOWNSTREAM_UUID),
            (DOWNSTREAM_UUID, "end"),
        ],
    )


def test_rust_node_shorthand_to_an_upstream_node_is_valid() -> None:
    wf = uuid_routed("$node_3b6a4d2f_8c5e_4f90_8b2c_4d6e8f0a2b3c.score > 5")
    assert report_of(wf).issues == []


def test_rust_node_shorthand_to_a_downstream_node_is_not_upstream() -> None:
    wf = uuid_routed("$node_f726a3e5_481a_45bc_a7e8_a32a45c6f7f8.x == 1")
    issue = only(wf, "condition_not_upstream")
    assert issue.node_id == "check"
    assert issue.path == "$.nodes[2].kind.config.expression"


# -- configs ----------------------------------------------------------------------------------
INVALID_CONFIGS: list[tuple[str, dict[str, Any], str, str]] = [
    ("temperature", llm(temperature=2.5), "temperature", "2.5"),
    ("negative temperature", llm(temperature=-0.1), "temperature", "-0.1"),
    ("max_tokens", llm(max_tokens=0), "max_tokens", "positive"),
    ("empty prompt", llm("   "), "prompt_template", "empty"),
    ("empty provider", llm(provider=""), "provider", "empty"),
    (
        "top_k",
        kind("Retriever", db_type="qdrant", collection="c", query="{{q}}", top_k=0),
        "top_k",
        "at least 1",
    ),
    (
        "code runtime",
        kind("Code", runtime="python", code="1", output="o"),
        "runtime",
        "'python'",
    ),
    ("empty code", kind("Code", runtime="rhai", code=" ", output="o"), "code", "empty"),
    ("empty plugin_id", custom(""), "plugin_id", "plugin_id"),
    (
        "duplicate parallel tasks",
        kind(
            "Parallel",
            strategy="WaitAll",
            tasks=[{"id": "t", "expression": "1"}, {"id": "t", "expression": "2"}],
        ),
        "tasks",
        "t",
    ),
    ("no parallel task", kind("Parallel", strategy="Race", tasks=[]), "tasks", "at least one"),
    (
        "select without options",
        kind("Form", title="F", fields=[{"id": "f", "label": "F", "field_type": "Select"}]),
        "fields[0].options",
        "Select",
    ),
    (
        "duplicate form fields",
        kind(
            "Form",
            title="F",
            fields=[
                {"id": "f", "label": "F", "field_type": "Text"},
                {"id": "f", "label": "G", "field_type": "Email"},
            ],
        ),
        "fields",
        "duplicate",
    ),
    ("empty tool server", kind("Tool", server_id="", tool_name="t"), "server_id", "empty"),
    (
        "loop max_iterations",
        kind(
            "Loop",
            loop_type={"variant": "Repeat", "count": 3, "body_expression": "x"},
            max_iterations=0,
        ),
        "max_iterations",
        "at least 1",
    ),
    (
        "negative repeat count",
        kind("Loop", loop_type={"variant": "Repeat", "count": -1, "body_expression": "x"}),
        "loop_type.count",
        "-1",
    ),
    ("empty workflow_path", kind("SubWorkflow", workflow_path=""), "workflow_path", "needs a"),
    (
        "vision provider",
        kind("Vision", provider="gpt4v", image_input="{{img}}"),
        "provider",
        "'gpt4v'",
    ),
]


@pytest.mark.parametrize(
    ("node_kind", "field", "fragment"),
    [case[1:] for case in INVALID_CONFIGS],
    ids=[case[0] for case in INVALID_CONFIGS],
)
def test_invalid_config(node_kind: dict[str, Any], field: str, fragment: str) -> None:
    wf = chain(node_kind)
    issue = only(wf, "invalid_config")
    assert issue.severity == "error"
    assert issue.node_id == "node"
    assert issue.path == f"$.nodes[1].kind.config.{field}"
    assert fragment in issue.message


def test_switch_needs_a_case_or_a_default() -> None:
    issue = only(chain(switch("{{x}}", [])), "invalid_config")
    assert issue.path == "$.nodes[1].kind.config.cases"


def test_switch_invalid_regex() -> None:
    wf = build(
        {
            "start": START,
            "route": switch("{{x}}", [("regex:([a-", "a")]),
            "a": value(1),
            "end": END,
        },
        "start>route, route>a, a>end",
    )
    issue = only(wf, "invalid_config")
    assert issue.path == "$.nodes[1].kind.config.cases[0].match_value"
    assert "regex" in issue.message


# -- warnings ---------------------------------------------------------------------------------
class TestWarnings:
    def warning(self, wf: Workflow, code: str) -> Issue:
        report = report_of(wf)
        assert report.ok, [str(i) for i in report.errors]
        matching = [i for i in report.warnings if i.code == code]
        assert len(matching) == 1, [str(i) for i in report.issues]
        assert matching[0].severity == "warning"
        return matching[0]

    def test_unreachable(self) -> None:
        wf = build(
            {"start": START, "a": value(1), "orphan": value(2), "end": END},
            "start>a, a>end, orphan>end",
        )
        issue = self.warning(wf, "unreachable")
        assert (issue.node_id, issue.path) == ("orphan", "$.nodes[2]")
        assert [i.code for i in report_of(wf).issues] == ["unreachable"]

    def test_dead_end(self) -> None:
        wf = build(
            {"start": START, "a": value(1), "loose": value(2), "end": END},
            "start>a, a>end, a>loose",
        )
        issue = self.warning(wf, "dead_end")
        assert (issue.node_id, issue.path) == ("loose", "$.nodes[2]")
        assert [i.code for i in report_of(wf).issues] == ["dead_end"]

    def test_duplicate_edge(self) -> None:
        wf = build({"start": START, "a": value(1), "end": END}, "start>a, a>end, start>a")
        issue = self.warning(wf, "duplicate_edge")
        assert issue.path == "$.edges[2]"
        assert "start -> a" in issue.message
        assert [i.code for i in report_of(wf).issues] == ["duplicate_edge"]

    def test_duplicate_name(self) -> None:
        wf = raw(
            [
                n("start", START),
                n("a1", value(1), "same"),
                n("a2", value(2), "same"),
                n("end", END),
            ],
            [("start", "a1"), ("start", "a2"), ("a1", "end"), ("a2", "end")],
        )
        issue = self.warning(wf, "duplicate_name")
        assert (issue.node_id, issue.path) == ("a2", "$.nodes[2].name")
        assert "a1" in issue.message and "a2" in issue.message
        assert [i.code for i in report_of(wf).issues] == ["duplicate_name"]

    def test_unknown_field(self) -> None:
        wf = chain(llm(temprature=0.5))
        issue = self.warning(wf, "unknown_field")
        assert (issue.node_id, issue.path) == ("node", "$.nodes[1].kind.config.temprature")
        assert "'temprature'" in issue.message

    def test_unknown_field_in_a_nested_config(self) -> None:
        wf = chain(
            kind(
                "Loop",
                loop_type={"variant": "While", "condition": "x", "body_expression": "y", "cnt": 1},
            )
        )
        issue = self.warning(wf, "unknown_field")
        assert issue.path == "$.nodes[1].kind.config.loop_type.cnt"

    def test_custom_config_is_free_form(self) -> None:
        assert report_of(chain(custom("acme.thing", anything=1))).issues == []

    def test_same_branch(self) -> None:
        wf = build(
            {"start": START, "check": if_else("x", "a", "a"), "a": value(1), "end": END},
            "start>check, check>a, a>end",
        )
        issue = self.warning(wf, "same_branch")
        assert (issue.node_id, issue.path) == ("check", "$.nodes[1].kind.config")
        assert [i.code for i in report_of(wf).issues] == ["same_branch"]

    def test_unrouted_successor(self) -> None:
        wf = build(
            {
                "start": START,
                "check": if_else("x", "a", "b"),
                "a": value(1),
                "b": value(2),
                "audit": value(3),
                "end": END,
            },
            "start>check, check>a, check>b, check>audit, a>end, b>end, audit>end",
        )
        issue = self.warning(wf, "unrouted_successor")
        assert (issue.node_id, issue.path) == ("check", "$.nodes[1]")
        assert "audit" in issue.message
        assert [i.code for i in report_of(wf).issues] == ["unrouted_successor"]

    def test_retry_delays(self) -> None:
        wf = chain(
            value(1),
            node={
                "retry_config": {
                    "max_retries": 2,
                    "initial_delay_ms": 5000,
                    "backoff_multiplier": 2.0,
                    "max_delay_ms": 100,
                }
            },
        )
        issue = self.warning(wf, "retry_delays")
        assert (issue.node_id, issue.path) == ("node", "$.nodes[1].retry_config")


# -- all at once; ensure_valid ----------------------------------------------------------------
def five_problems() -> Workflow:
    return raw(
        [
            n("start", START),
            n("plugin", custom("")),  # invalid_config
            n("check", if_else("x >>> 1", "plugin", "end")),  # invalid_condition
            n("end", END),
            n("end2", END),  # multiple_end
        ],
        [
            ("start", "check"),
            ("check", "plugin"),
            ("check", "end"),
            ("plugin", "end"),
            ("plugin", "plugin"),  # self_loop
            ("plugin", "nowhere"),  # unknown_node
            ("check", "end2"),
        ],
    )


def test_every_problem_is_reported_at_once() -> None:
    report = report_of(five_problems())
    assert not report.ok
    assert sorted(i.code for i in report.errors) == [
        "invalid_condition",
        "invalid_config",
        "multiple_end",
        "self_loop",
        "unknown_node",
    ]
    assert len(report.errors) == 5
    where = {i.code: (i.node_id, i.path) for i in report.errors}
    assert where == {
        "invalid_config": ("plugin", "$.nodes[1].kind.config.plugin_id"),
        "invalid_condition": ("check", "$.nodes[2].kind.config.expression"),
        "multiple_end": ("end2", "$.nodes[4].kind"),
        "self_loop": ("plugin", "$.edges[4]"),
        "unknown_node": (None, "$.edges[5].to"),
    }


def test_ensure_valid_raises_with_the_same_issues() -> None:
    wf = five_problems()
    with pytest.raises(ValidationError) as info:
        ensure_valid(wf)
    assert info.value.issues == oxify.validate(wf).issues
    text = str(info.value)
    assert text.startswith("workflow is invalid (5 problems)")
    for code in ("invalid_condition", "invalid_config", "multiple_end", "self_loop"):
        assert f"[{code}]" in text


def test_ensure_valid_returns_the_plan() -> None:
    plan = ensure_valid(oxify.load_workflow("examples/diamond.json"))
    assert plan.levels == (("start",), ("double", "square"), ("sum",), ("end",))


def test_ensure_valid_accepts_warnings() -> None:
    wf = build(
        {"start": START, "a": value(1), "loose": value(2), "end": END}, "start>a, a>end, a>loose"
    )
    assert report_of(wf).ok
    assert ensure_valid(wf).node_count == 4


def test_issue_to_dict_and_str() -> None:
    issue = only(
        raw(
            [n("start", START), n("n1", custom(""), name="Plugin"), n("end", END)],
            [("start", "n1"), ("n1", "end")],
        ),
        "invalid_config",
    )
    assert issue.to_dict() == {
        "severity": "error",
        "code": "invalid_config",
        "message": issue.message,
        "path": "$.nodes[1].kind.config.plugin_id",
        "node_id": "n1",
        "node_name": "Plugin",
    }
    text = str(issue)
    assert text.startswith("error: ")
    assert text.endswith("[invalid_config]")
    assert "'Plugin'" in text and "n1" in text and "$.nodes[1].kind.config.plugin_id" in text


# -- composite nodes ---------------------------------------------------------------------------
def _errors(workflow: Workflow) -> list[tuple[str, str, str]]:
    return [(i.code, i.path, i.message) for i in validate(workflow).errors]


def test_composite_expression_syntax_is_checked():
    loop = kind(
        "Loop",
        loop_type={"variant": "While", "condition": "x >", "body_expression": "{{ unclosed"},
    )
    codes = {code for code, _, _ in _errors(chain(loop))}
    assert codes == {"invalid_condition", "invalid_template"}


def test_inline_subworkflow_problems_point_into_the_body():
    body = {
        "nodes": [{"id": "s", "kind": START}, {"id": "e", "kind": END}],
        "edges": [{"from": "s", "to": "nowhere"}],
    }
    loop = kind(
        "Loop",
        loop_type={
            "variant": "ForEach",
            "collection_path": "xs",
            "item_variable": "x",
            "body": body,
        },
    )
    errors = _errors(chain(loop))
    assert errors, "the broken body must be reported"
    code, path, message = errors[0]
    assert code == "unknown_node"
    assert path.startswith("$.nodes[1].kind.config.loop_type.body.edges[0]")
    assert message.startswith("in sub-workflow: ")


def test_composite_extension_fields_draw_no_warning():
    body = {
        "nodes": [{"id": "s", "kind": START}, {"id": "e", "kind": END}],
        "edges": [{"from": "s", "to": "e"}],
    }
    tc = kind("TryCatch", try_body=body, catch_body="catch.yaml", finally_expression="done")
    report = validate(chain(tc, node={"default_output": 1, "queue": "oxify.gpu"}))
    assert report.ok
    assert not [w for w in report.warnings if w.code == "unknown_field"]


def test_a_sub_workflow_body_must_be_an_object_or_a_path():
    tasks = [{"id": "a", "body": 42}]
    errors = _errors(chain(kind("Parallel", strategy="WaitAll", tasks=tasks)))
    assert any("an object (inline workflow) or a string (path)" in m for _, _, m in errors)


def test_switch_regex_cases_are_checked_with_the_matching_engine():
    from oxify.engine.regex_case import MAX_PATTERN

    def switch(pattern: str) -> Any:
        return build(
            {
                "start": START,
                "sw": {
                    "type": "Switch",
                    "config": {
                        "switch_on": "{{x}}",
                        "cases": [{"match_value": f"regex:{pattern}", "action": "a"}],
                    },
                },
                "a": value(1),
                "end": END,
            },
            "start>sw, sw>a, a>end",
        )

    assert validate(switch("^(a|b)+$")).ok
    bad = validate(switch("(unclosed"))
    assert [i.code for i in bad.errors] == ["invalid_config"]
    assert "invalid regex" in bad.errors[0].message
    assert bad.errors[0].path == "$.nodes[1].kind.config.cases[0].match_value"
    long = validate(switch("a" * (MAX_PATTERN + 1)))
    assert f"longer than {MAX_PATTERN} characters" in long.errors[0].message
