"""The workflow format: loading Rust-written files unchanged, round-trips, loader errors."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

import oxify
from oxify import parse_workflow  # the public loader: shape and graph problems at once
from oxify.errors import ValidationError, WorkflowLoadError
from oxify.model import (
    KIND_NAMES,
    TimeoutConfig,
    UseDefault,
    Workflow,
    parse_text,
    workflow_to_data,
)
from oxify.model.kinds import (
    ForEachLoop,
    LlmKind,
    LoopKind,
    RepeatLoop,
    SwitchKind,
    WhileLoop,
)

DATA = Path(__file__).resolve().parent.parent / "data"
RUST_FILE = DATA / "rust_workflow.json"

# Node ids of tests/data/rust_workflow.json, in file order.
START_ID = "11111111-1111-4111-8111-111111111111"
RETRIEVER_ID = "2a5f3c1e-7b4d-4e8f-9a1b-3c5d7e9f1a2b"
LLM_ID = "3b6a4d2f-8c5e-4f90-8b2c-4d6e8f0a2b3c"
IFELSE_ID = "4c7b5e3a-9d6f-4a01-9c3d-5e7f9a1b3c4d"
CODE_ID = "5d8c6f4b-ae70-4b12-8d4e-6f80ab2c4d5e"
TOOL_ID = "6e9d7a5c-bf81-4c23-9e5f-7a91bc3d5e6f"
SWITCH_ID = "7fae8b6d-c092-4d34-af60-8ba2cd4e6f70"
LOOP_ID = "80bf9c7e-d1a3-4e45-b071-9cb3de5f7081"
END_ID = "99999999-9999-4999-8999-999999999999"


def rust_data() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(RUST_FILE.read_text(encoding="utf-8"))
    return data


def write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def minimal_data() -> dict[str, Any]:
    return {
        "nodes": [
            {"id": "start", "kind": {"type": "Start"}},
            {
                "id": "retrieve",
                "kind": {
                    "type": "Custom",
                    "config": {"plugin_id": "oxify.value", "config": {"value": "{{q}}"}},
                },
            },
            {"id": "end", "kind": {"type": "End"}},
        ],
        "edges": [{"from": "start", "to": "retrieve"}, {"from": "retrieve", "to": "end"}],
    }


def shape_issues(data: Any) -> list[Any]:
    with pytest.raises(ValidationError) as info:
        parse_workflow(data)
    return info.value.issues


# -- the Rust file --------------------------------------------------------------------------
class TestRustFile:
    def test_loads_every_kind_with_its_fields(self) -> None:
        wf = oxify.load_workflow(RUST_FILE)
        assert [n.kind_name for n in wf.nodes] == [
            "Start",
            "Retriever",
            "LLM",
            "IfElse",
            "Code",
            "Tool",
            "Switch",
            "Loop",
            "TryCatch",
            "SubWorkflow",
            "Parallel",
            "Approval",
            "Form",
            "Vision",
            "Custom",
            "End",
        ]
        assert set(KIND_NAMES) == {n.kind_name for n in wf.nodes}
        assert wf.metadata.id == "0b6c4f0e-8f2a-4c1e-9d3b-5a7e2f1c8d90"
        assert wf.name == "support-pipeline"
        assert wf.metadata.created_at == "2025-01-15T10:30:00Z"
        assert wf.metadata.updated_at == "2025-01-16T08:05:42.123456+00:00"
        assert wf.metadata.tags == ["support", "rag"]

        llm = wf.node(LLM_ID)
        assert isinstance(llm.kind, LlmKind)
        assert llm.kind.config.temperature == 0.7
        assert llm.kind.config.max_tokens == 500
        assert llm.kind.config.system_prompt is None
        assert llm.position == (500.0, 200.0)
        assert llm.retry_config is not None and llm.retry_config.backoff_multiplier == 1.5
        assert llm.timeout_config is not None
        assert llm.timeout_config.timeout_action == UseDefault(UseDefault="fallback")

        retriever = wf.node(RETRIEVER_ID)
        assert retriever.timeout_config is not None
        assert retriever.timeout_config.timeout_action == "Fail"
        assert retriever.timeout_config.idle_timeout_ms is None
        assert wf.node(START_ID).retry_config is None

        loop = wf.node(LOOP_ID).kind
        assert isinstance(loop, LoopKind) and isinstance(loop.config.loop_type, ForEachLoop)
        assert loop.config.loop_type.item_variable == "item"
        assert loop.config.max_iterations == 100

        switch = wf.node(SWITCH_ID).kind
        assert isinstance(switch, SwitchKind)
        assert [c.action for c in switch.config.cases] == [
            LOOP_ID,
            "91c0ad8f-e2b4-4f56-8182-adc4ef608192",
        ]

        labelled = [e for e in wf.edges if e.label is not None]
        assert len(labelled) == 1
        assert (labelled[0].source, labelled[0].target) == (IFELSE_ID, CODE_ID)
        assert labelled[0].condition == "score > 0.5"

    def test_validates_with_no_issue_at_all(self) -> None:
        report = oxify.validate(oxify.load_workflow(RUST_FILE))
        assert report.ok
        assert report.issues == []

    def test_dump_equals_the_original_json_including_nulls(self) -> None:
        wf = oxify.load_workflow(RUST_FILE)
        assert json.loads(oxify.dumps_workflow(wf)) == rust_data()

    def test_dump_is_byte_identical_to_the_rust_pretty_output(self) -> None:
        # serde_json's pretty printer and ours agree (2 spaces, same key order).
        wf = oxify.load_workflow(RUST_FILE)
        assert oxify.dumps_workflow(wf) == RUST_FILE.read_text(encoding="utf-8")

    def test_save_then_load_keeps_the_file_unchanged(self, tmp_path: Path) -> None:
        wf = oxify.load_workflow(RUST_FILE)
        out = tmp_path / "copy.json"
        oxify.save_workflow(wf, out)
        assert json.loads(out.read_text(encoding="utf-8")) == rust_data()
        assert oxify.load_workflow(out) == wf

    def test_full_dump_loads_back_equal(self) -> None:
        wf = oxify.load_workflow(RUST_FILE)
        again = parse_workflow(json.loads(oxify.dumps_workflow(wf, full=True)))
        assert again == wf
        assert again.nodes == wf.nodes

    def test_full_dump_of_a_complete_rust_file_is_the_rust_file(self) -> None:
        # Regression: full=True used to add "config": null to Start/End.
        wf = oxify.load_workflow(RUST_FILE)
        assert json.loads(oxify.dumps_workflow(wf, full=True)) == rust_data()

    def test_yaml_round_trip(self, tmp_path: Path) -> None:
        wf = oxify.load_workflow(RUST_FILE)
        out = tmp_path / "wf.yaml"
        oxify.save_workflow(wf, out)
        text = out.read_text(encoding="utf-8")
        assert not text.lstrip().startswith("{")  # really YAML, not JSON
        assert "support-pipeline" in text
        back = oxify.load_workflow(out)
        assert back == wf
        assert back.metadata.created_at == "2025-01-15T10:30:00Z"
        assert workflow_to_data(back) == rust_data()

    def test_yml_suffix_is_yaml_too(self, tmp_path: Path) -> None:
        wf = oxify.load_workflow(RUST_FILE)
        out = tmp_path / "wf.yml"
        oxify.save_workflow(wf, out)
        assert oxify.load_workflow(out) == wf

    def test_yaml_with_unquoted_rfc3339_timestamps_loads(self, tmp_path: Path) -> None:
        # serde_yaml writes RFC3339 strings unquoted; PyYAML used to turn them into datetimes.
        path = write(
            tmp_path / "rust.yaml",
            "metadata:\n"
            "  id: 0b6c4f0e-8f2a-4c1e-9d3b-5a7e2f1c8d90\n"
            "  name: from-serde-yaml\n"
            "  version: 1.0.0\n"
            "  created_at: 2025-01-15T10:30:00Z\n"
            "  updated_at: 2025-01-16T08:05:42.123456Z\n"
            "nodes:\n"
            "- id: s\n  name: s\n  kind:\n    type: Start\n"
            "- id: e\n  name: e\n  kind:\n    type: End\n"
            "edges:\n- from: s\n  to: e\n",
        )
        wf = oxify.load_workflow(path)
        assert wf.metadata.created_at == "2025-01-15T10:30:00Z"
        assert wf.metadata.updated_at == "2025-01-16T08:05:42.123456Z"


# -- hand-written files -----------------------------------------------------------------------
class TestMinimalFile:
    def test_loads_with_defaults(self, tmp_path: Path) -> None:
        path = write(tmp_path / "mini.json", json.dumps(minimal_data()))
        wf = oxify.load_workflow(path)
        assert [n.id for n in wf.nodes] == ["start", "retrieve", "end"]
        assert [n.name for n in wf.nodes] == ["start", "retrieve", "end"]  # name defaults to id
        assert wf.node("retrieve").label == "retrieve"
        assert wf.metadata.name == "workflow"
        assert wf.metadata.version == "1.0.0"
        assert wf.node("retrieve").retry_config is None
        assert wf.node("retrieve").position is None
        assert oxify.validate(wf).ok

    def test_yaml_without_suffix_is_sniffed(self, tmp_path: Path) -> None:
        path = write(
            tmp_path / "flow",
            "nodes:\n  - {id: s, kind: {type: Start}}\n  - {id: e, kind: {type: End}}\n"
            "edges:\n  - {from: s, to: e}\n",
        )
        wf = oxify.load_workflow(path)
        assert [n.kind_name for n in wf.nodes] == ["Start", "End"]

    def test_dump_writes_only_what_was_set(self) -> None:
        wf = parse_workflow(minimal_data())
        data = json.loads(oxify.dumps_workflow(wf))
        assert "metadata" not in data
        assert data["edges"] == [
            {"from": "start", "to": "retrieve"},
            {"from": "retrieve", "to": "end"},
        ]
        assert "retry_config" not in data["nodes"][1]

    def test_full_dump_writes_every_field_and_loads_back_equal(self) -> None:
        wf = parse_workflow(minimal_data())
        data = json.loads(oxify.dumps_workflow(wf, full=True))
        assert set(data["metadata"]) >= {"id", "name", "version", "tags", "created_at"}
        assert data["nodes"][1]["retry_config"] is None
        assert data["nodes"][1]["timeout_config"] is None
        assert all("id" in e and "label" in e and "condition" in e for e in data["edges"])
        assert parse_workflow(data) == wf

    def test_explicit_empty_name_round_trips(self) -> None:
        # Regression: an explicit "" used to be replaced by the id.
        data = minimal_data()
        data["nodes"][1]["name"] = ""
        wf = parse_workflow(data)
        assert json.loads(oxify.dumps_workflow(wf))["nodes"][1]["name"] == ""


# -- content hash -----------------------------------------------------------------------------
class TestContentHash:
    def test_stable_across_load_dump_load(self, tmp_path: Path) -> None:
        wf = oxify.load_workflow(RUST_FILE)
        out = tmp_path / "again.json"
        oxify.save_workflow(wf, out)
        again = oxify.load_workflow(out)
        assert again.content_hash == wf.content_hash
        assert len(wf.content_hash) == 64
        assert oxify.load_workflow(RUST_FILE).content_hash == wf.content_hash

    def test_stable_for_a_file_without_ids(self) -> None:
        # Edge and workflow ids are generated at load; they must not change the hash.
        a, b = parse_workflow(minimal_data()), parse_workflow(minimal_data())
        assert a.edges[0].id != b.edges[0].id
        assert a.content_hash == b.content_hash

    def test_key_order_does_not_matter(self) -> None:
        data = rust_data()
        reordered = {"edges": data["edges"], "nodes": data["nodes"], "metadata": data["metadata"]}
        assert parse_workflow(reordered).content_hash == parse_workflow(data).content_hash

    def test_changes_when_a_config_changes(self) -> None:
        data = rust_data()
        base = parse_workflow(data).content_hash
        changed = copy.deepcopy(data)
        changed["nodes"][2]["kind"]["config"]["temperature"] = 0.2
        assert parse_workflow(changed).content_hash != base
        nested = copy.deepcopy(data)
        nested["nodes"][14]["kind"]["config"]["config"]["note"] = "other"
        assert parse_workflow(nested).content_hash != base
        edge = copy.deepcopy(data)
        edge["edges"][0]["to"] = LLM_ID
        assert parse_workflow(edge).content_hash != base


# -- loader errors ----------------------------------------------------------------------------
class TestLoaderErrors:
    def load_error(self, path: Path) -> str:
        with pytest.raises(WorkflowLoadError) as info:
            oxify.load_workflow(path)
        message = str(info.value)
        assert "\n" not in message, message
        assert str(path) in message
        assert isinstance(info.value, oxify.OxifyError)
        return message

    def test_missing_file(self, tmp_path: Path) -> None:
        assert "no such file" in self.load_error(tmp_path / "absent.json")

    def test_directory(self, tmp_path: Path) -> None:
        assert "directory" in self.load_error(tmp_path)

    def test_malformed_json_names_line_and_column(self, tmp_path: Path) -> None:
        path = write(tmp_path / "bad.json", '{\n  "nodes": [\n    {"id": "a",}\n  ]\n}\n')
        message = self.load_error(path)
        assert "invalid JSON" in message
        assert "line 3" in message
        assert "column 16" in message

    def test_nan_is_rejected(self, tmp_path: Path) -> None:
        path = write(tmp_path / "nan.json", '{"nodes": [], "edges": [], "x": NaN}')
        message = self.load_error(path)
        assert "NaN" in message and "invalid JSON" in message

    def test_infinity_is_rejected(self, tmp_path: Path) -> None:
        path = write(tmp_path / "inf.json", '{"nodes": [], "edges": [], "x": -Infinity}')
        assert "Infinity" in self.load_error(path)

    def test_duplicate_keys_are_rejected(self, tmp_path: Path) -> None:
        path = write(
            tmp_path / "dup.json",
            '{"nodes": [{"id": "a", "id": "b", "kind": {"type": "Start"}}], "edges": []}',
        )
        message = self.load_error(path)
        assert "duplicate key 'id'" in message

    def test_top_level_list(self, tmp_path: Path) -> None:
        path = write(tmp_path / "list.json", "[1, 2]")
        message = self.load_error(path)
        assert "got list" in message
        assert "'nodes'" in message

    def test_invalid_yaml_names_the_line(self, tmp_path: Path) -> None:
        path = write(tmp_path / "bad.yaml", "nodes:\n  - id: a\n   kind: x\n")
        message = self.load_error(path)
        assert "invalid YAML" in message
        assert "line 3" in message

    def test_non_utf8_bytes(self, tmp_path: Path) -> None:
        path = write(tmp_path / "latin1.json", b'{"nodes": [], "name": "caf\xe9"}')
        message = self.load_error(path)
        assert "cannot read" in message
        assert "utf-8" in message

    def test_empty_yaml_file(self, tmp_path: Path) -> None:
        assert "got NoneType" in self.load_error(write(tmp_path / "empty.yaml", ""))

    def test_duplicate_yaml_keys_are_rejected(self, tmp_path: Path) -> None:
        path = write(
            tmp_path / "dup.yaml",
            "nodes:\n  - {id: s, kind: {type: Start}}\n  - {id: e, kind: {type: End}}\n"
            "edges:\n  - {from: s, to: e}\nedges: []\n",
        )
        message = self.load_error(path)
        assert "duplicate key 'edges'" in message
        assert "line 6" in message


# -- shape errors -----------------------------------------------------------------------------
class TestShapeErrors:
    def test_every_problem_is_reported_at_once_with_paths_and_node_ids(self) -> None:
        data = {
            "nodes": [
                {"id": "start", "kind": {"type": "Start"}},
                {"id": "robot", "kind": {"type": "Robot", "config": {}}},
                {
                    "id": "ask",
                    "name": "Ask",
                    "kind": {"type": "LLM", "config": {"provider": "openai", "model": "gpt-4"}},
                },
                {
                    "id": "each",
                    "kind": {
                        "type": "Loop",
                        "config": {"loop_type": {"variant": "Forever", "body_expression": "x"}},
                    },
                },
                {"id": "end", "kind": {"type": "End"}},
            ],
            "edges": [{"from": "start", "to": "robot"}, {"from": "robot"}],
        }
        issues = shape_issues(data)
        by_path = {i.path: i for i in issues}
        assert set(by_path) == {
            "$.nodes[1].kind",
            "$.nodes[2].kind.config.prompt_template",
            "$.nodes[3].kind.config.loop_type",
            "$.edges[1].to",
        }
        assert all(i.severity == "error" for i in issues)

        kind = by_path["$.nodes[1].kind"]
        assert kind.code == "unknown_kind"
        assert kind.node_id == "robot"
        assert "'Robot'" in kind.message
        for known in KIND_NAMES:
            assert known in kind.message

        prompt = by_path["$.nodes[2].kind.config.prompt_template"]
        assert prompt.code == "missing_field"
        assert (prompt.node_id, prompt.node_name) == ("ask", "Ask")
        assert "prompt_template" in prompt.message

        loop = by_path["$.nodes[3].kind.config.loop_type"]
        assert loop.code == "unknown_kind"
        assert loop.node_id == "each"
        assert "'Forever'" in loop.message
        assert all(v in loop.message for v in ("ForEach", "While", "Repeat"))

        edge = by_path["$.edges[1].to"]
        assert edge.code == "missing_field"
        assert edge.node_id is None
        assert "'to'" in edge.message

    def test_the_error_message_lists_every_problem(self) -> None:
        data = minimal_data()
        del data["nodes"][1]["kind"]["config"]["plugin_id"]
        data["edges"][0] = {"to": "retrieve"}
        with pytest.raises(ValidationError) as info:
            parse_workflow(data)
        text = str(info.value)
        assert text.splitlines()[0] == "workflow is invalid (2 problems)"
        assert "$.nodes[1].kind.config.plugin_id" in text
        assert "$.edges[0].from" in text
        assert "[missing_field]" in text
        assert isinstance(info.value, oxify.WorkflowError)

    def test_missing_kind_type(self) -> None:
        data = minimal_data()
        data["nodes"][1]["kind"] = {"config": {}}
        [issue] = shape_issues(data)
        assert issue.code == "missing_field"
        assert issue.path == "$.nodes[1].kind"
        assert issue.node_id == "retrieve"
        assert "'type'" in issue.message and "Custom" in issue.message

    def test_missing_loop_variant(self) -> None:
        data = minimal_data()
        data["nodes"][1]["kind"] = {
            "type": "Loop",
            "config": {"loop_type": {"count": 3, "body_expression": "x"}},
        }
        [issue] = shape_issues(data)
        assert issue.code == "missing_field"
        assert issue.path == "$.nodes[1].kind.config.loop_type"
        assert "'variant'" in issue.message

    def test_wrong_type_is_schema(self) -> None:
        data = minimal_data()
        data["nodes"][1]["kind"]["config"]["plugin_id"] = 42
        data["nodes"][1]["retry_config"] = {"max_retries": -1}
        issues = shape_issues(data)
        assert {(i.code, i.path) for i in issues} == {
            ("schema", "$.nodes[1].kind.config.plugin_id"),
            ("schema", "$.nodes[1].retry_config.max_retries"),
        }
        assert all(i.node_id == "retrieve" for i in issues)

    def test_nodes_not_a_list(self) -> None:
        [issue] = shape_issues({"nodes": {"a": 1}, "edges": []})
        assert (issue.code, issue.path, issue.node_id) == ("schema", "$.nodes", None)

    def test_missing_node_id(self) -> None:
        data = minimal_data()
        del data["nodes"][1]["id"]
        issue = shape_issues(data)[0]
        assert (issue.code, issue.path) == ("missing_field", "$.nodes[1].id")
        assert "'id'" in issue.message

    def test_unexpected_field_in_kind(self) -> None:
        data = minimal_data()
        data["nodes"][0]["kind"] = {"type": "Start", "settings": {}}
        issue = shape_issues(data)[0]
        assert issue.code == "schema"
        assert issue.path == "$.nodes[0].kind.settings"
        assert issue.node_id == "start"
        assert "'settings'" in issue.message

    def test_graph_problems_are_reported_with_shape_problems(self) -> None:
        data = minimal_data()
        data["nodes"][1]["kind"]["config"]["plugin_id"] = 42
        data["edges"].append({"from": "end", "to": "end"})
        data["edges"].append({"from": "retrieve", "to": "ghost"})
        issues = shape_issues(data)
        assert {(i.code, i.path) for i in issues} == {
            ("schema", "$.nodes[1].kind.config.plugin_id"),
            ("self_loop", "$.edges[2]"),
            ("unknown_node", "$.edges[3].to"),
        }

    @pytest.mark.parametrize(
        ("index", "kind"),
        [(0, {"type": "Start", "settings": {}}), (2, {"type": "End", "config": {"outputs": 5}})],
    )
    def test_a_broken_start_or_end_is_not_reported_missing(
        self, index: int, kind: dict[str, Any]
    ) -> None:
        # Regression: a broken Start/End used to add a false missing_start/missing_end.
        data = minimal_data()
        data["nodes"][index]["kind"] = kind
        issues = shape_issues(data)
        assert [i.code for i in issues] == ["schema"]

    def test_bad_timeout_action_is_one_issue_at_its_path(self) -> None:
        # Regression: pydantic union member labels used to leak into the path, twice.
        data = minimal_data()
        data["nodes"][1]["timeout_config"] = {
            "execution_timeout_ms": 1000,
            "timeout_action": "Abort",
        }
        [issue] = shape_issues(data)
        assert issue.path == "$.nodes[1].timeout_config.timeout_action"
        assert (issue.code, issue.node_id) == ("schema", "retrieve")
        for fragment in ("'Abort'", '"Fail"', '"Skip"', "UseDefault"):
            assert fragment in issue.message


# -- policies ---------------------------------------------------------------------------------
class TestTimeoutAction:
    @pytest.mark.parametrize("action", ["Fail", "Skip"])
    def test_plain_actions(self, action: str) -> None:
        config = TimeoutConfig.model_validate(
            {"execution_timeout_ms": 500, "timeout_action": action}
        )
        assert config.timeout_action == action
        assert config.model_dump(mode="json", exclude_unset=True) == {
            "execution_timeout_ms": 500,
            "timeout_action": action,
        }

    def test_use_default(self) -> None:
        config = TimeoutConfig.model_validate(
            {"execution_timeout_ms": 500, "timeout_action": {"UseDefault": '{"answer": 42}'}}
        )
        assert isinstance(config.timeout_action, UseDefault)
        assert config.timeout_action.UseDefault == '{"answer": 42}'
        dumped = config.model_dump(mode="json", exclude_unset=True)
        assert dumped["timeout_action"] == {"UseDefault": '{"answer": 42}'}

    def test_defaults(self) -> None:
        config = TimeoutConfig.model_validate({})
        assert config.timeout_action == "Fail"
        assert config.execution_timeout_ms == 60000
        assert config.idle_timeout_ms is None

    @pytest.mark.parametrize(
        "action", ["fail", "Abort", {"UseDefault": 5}, {"Other": "x"}, ["Fail"]]
    )
    def test_invalid_actions_are_schema_errors(self, action: Any) -> None:
        data = minimal_data()
        data["nodes"][1]["timeout_config"] = {"execution_timeout_ms": 1, "timeout_action": action}
        issues = shape_issues(data)
        assert issues
        assert all(i.code in ("schema", "missing_field") for i in issues)
        assert all(i.path.startswith("$.nodes[1].timeout_config.timeout_action") for i in issues)
        assert all(i.node_id == "retrieve" for i in issues)

    def test_non_positive_execution_timeout_is_rejected(self) -> None:
        data = minimal_data()
        data["nodes"][1]["timeout_config"] = {"execution_timeout_ms": 0}
        [issue] = shape_issues(data)
        assert issue.path == "$.nodes[1].timeout_config.execution_timeout_ms"


class TestLoopVariants:
    def test_while_and_repeat(self) -> None:
        data = minimal_data()
        data["nodes"][1]["kind"] = {
            "type": "Loop",
            "config": {
                "loop_type": {"variant": "While", "condition": "n < 3", "body_expression": "x"}
            },
        }
        kind = parse_workflow(data).node("retrieve").kind
        assert isinstance(kind, LoopKind) and isinstance(kind.config.loop_type, WhileLoop)
        assert kind.config.max_iterations == 1000

        data["nodes"][1]["kind"]["config"]["loop_type"] = {
            "variant": "Repeat",
            "count": "{{n}}",
            "body_expression": "x",
        }
        kind = parse_workflow(data).node("retrieve").kind
        assert isinstance(kind, LoopKind) and isinstance(kind.config.loop_type, RepeatLoop)
        assert kind.config.loop_type.count == "{{n}}"


# -- unknown fields ---------------------------------------------------------------------------
class TestUnknownFields:
    def test_kept_on_dump_at_every_level(self) -> None:
        data = rust_data()
        data["x_top"] = {"keep": True}
        data["metadata"]["owner"] = "team-a"
        data["nodes"][2]["ui"] = {"color": "red"}
        data["nodes"][2]["kind"]["config"]["seed"] = 7
        data["nodes"][2]["retry_config"]["jitter"] = 0.1
        data["nodes"][7]["kind"]["config"]["loop_type"]["batch"] = 4
        data["edges"][0]["weight"] = 2
        wf = parse_workflow(data)
        assert json.loads(oxify.dumps_workflow(wf)) == data
        assert parse_workflow(json.loads(oxify.dumps_workflow(wf, full=True))) == wf
        yaml_back = parse_text(oxify.dumps_workflow(wf, "yaml"), "yaml")
        assert yaml_back == data

    def test_unknown_fields_everywhere_are_warnings(self) -> None:
        data = rust_data()
        data["x_top"] = {"keep": True}
        data["metadata"]["owner"] = "team-a"
        data["edges"][0]["weight"] = 2
        data["nodes"][1]["timeout_config"]["grace"] = 2
        data["nodes"][2]["ui"] = {"color": "red"}
        data["nodes"][2]["retry_config"]["jitter"] = 0.1
        data["nodes"][7]["kind"]["config"]["loop_type"]["batch"] = 4
        report = oxify.validate(parse_workflow(data))
        assert report.ok
        assert all(i.severity == "warning" for i in report.issues)
        assert {(i.code, i.path, i.node_id) for i in report.issues} == {
            ("unknown_field", "$.x_top", None),
            ("unknown_field", "$.metadata.owner", None),
            ("unknown_field", "$.edges[0].weight", None),
            ("unknown_field", "$.nodes[1].timeout_config.grace", RETRIEVER_ID),
            ("unknown_field", "$.nodes[2].ui", LLM_ID),
            ("unknown_field", "$.nodes[2].retry_config.jitter", LLM_ID),
            ("unknown_field", "$.nodes[7].kind.config.loop_type.batch", LOOP_ID),
        }

    def test_unknown_config_fields_are_warnings(self) -> None:
        data = rust_data()
        data["nodes"][2]["kind"]["config"]["seed"] = 7
        report = oxify.validate(parse_workflow(data))
        assert report.ok
        [issue] = report.issues
        assert (issue.severity, issue.code) == ("warning", "unknown_field")
        assert issue.path == "$.nodes[2].kind.config.seed"
        assert issue.node_id == LLM_ID
        assert "'seed'" in issue.message

    def test_node_level_typo_is_reported(self) -> None:
        # Regression: only unknown fields inside kind.config used to be reported.
        data = minimal_data()
        data["nodes"][1]["retry_confg"] = {"max_retries": 3}
        report = oxify.validate(parse_workflow(data))
        assert [(i.code, i.path) for i in report.warnings] == [
            ("unknown_field", "$.nodes[1].retry_confg")
        ]


def test_workflow_is_frozen() -> None:
    wf = parse_workflow(minimal_data())
    with pytest.raises(Exception, match="frozen"):
        wf.metadata = wf.metadata  # type: ignore[misc]
    assert isinstance(wf, Workflow)
