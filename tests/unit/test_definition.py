"""Definitions: a workflow with the sub-workflow files it names, hashes and references."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from oxify.errors import WorkflowLoadError
from oxify.model import definition as definition_module
from oxify.model.definition import Definition, body_fields, body_ref, load_definition
from oxify.model.io import parse_workflow
from oxify.model.workflow import Node
from tests.support import END, START, build, value


def inline(name: str) -> dict[str, Any]:
    """A minimal inline workflow document named ``name``."""
    return {
        "metadata": {"name": name},
        "nodes": [{"id": "s", "kind": START}, {"id": "e", "kind": END}],
        "edges": [{"from": "s", "to": "e"}],
    }


def sub(path: str) -> dict[str, Any]:
    return {"type": "SubWorkflow", "config": {"workflow_path": path}}


def document(name: str, **middle: dict[str, Any]) -> dict[str, Any]:
    """start > each of ``middle`` (in a chain) > end."""
    ids = ["start", *middle, "end"]
    kinds = {"start": START, **middle, "end": END}
    return {
        "metadata": {"name": name},
        "nodes": [{"id": i, "name": i, "kind": kinds[i]} for i in ids],
        "edges": [{"from": a, "to": b} for a, b in itertools.pairwise(ids)],
    }


def write(path: Path, data: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".json":
        path.write_text(json.dumps(data), encoding="utf-8")
    else:
        path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


@pytest.fixture
def loads(monkeypatch) -> Counter[str]:
    """How many times each file was read by load_definition (resolved path → count)."""
    counts: Counter[str] = Counter()
    real = definition_module.load_workflow

    def counting(path):
        counts[str(Path(path).resolve())] += 1
        return real(path)

    monkeypatch.setattr(definition_module, "load_workflow", counting)
    return counts


def node_of(kind: dict[str, Any], node_id: str = "n") -> Node:
    wf = build({"start": START, node_id: kind, "end": END}, f"start>{node_id}, {node_id}>end")
    return wf.node(node_id)


# -- load_definition --------------------------------------------------------------------------


@pytest.mark.parametrize("top_name", ["top.yaml", "top.json"])
def test_loads_children_and_grandchildren_once(tmp_path, loads, top_name):
    top = write(tmp_path / top_name, document("top", a=sub("child.yaml"), b=sub("child.yaml")))
    write(tmp_path / "child.yaml", document("child", c=sub("sub/grand.yaml")))
    write(tmp_path / "sub" / "grand.yaml", document("grand", g=value(1)))

    defn = load_definition(top)

    assert defn.workflow.name == "top"
    assert defn.source == str(top.resolve())
    assert set(defn.library) == {"child.yaml", "sub/grand.yaml"}
    assert defn.library["child.yaml"].name == "child"
    assert defn.library["sub/grand.yaml"].name == "grand"
    assert loads == {
        str(top.resolve()): 1,
        str((tmp_path / "child.yaml").resolve()): 1,
        str((tmp_path / "sub" / "grand.yaml").resolve()): 1,
    }


def test_paths_are_relative_to_the_top_level_directory(tmp_path):
    # lib/child.yaml names "lib/grand.yaml": the top file's directory, not lib/lib/grand.yaml
    top = write(tmp_path / "top.yaml", document("top", a=sub("lib/child.yaml")))
    write(tmp_path / "lib" / "child.yaml", document("child", c=sub("lib/grand.yaml")))
    write(tmp_path / "lib" / "grand.yaml", document("grand"))

    defn = load_definition(top)

    assert set(defn.library) == {"lib/child.yaml", "lib/grand.yaml"}
    assert defn.library["lib/grand.yaml"].name == "grand"


def test_a_path_relative_to_the_childs_directory_is_not_found(tmp_path):
    top = write(tmp_path / "top.yaml", document("top", a=sub("lib/child.yaml")))
    write(tmp_path / "lib" / "child.yaml", document("child", c=sub("grand.yaml")))
    write(tmp_path / "lib" / "grand.yaml", document("grand"))

    with pytest.raises(WorkflowLoadError, match=r"sub-workflow file grand\.yaml not found"):
        load_definition(top)


def test_base_dir_overrides_the_files_directory(tmp_path):
    top = write(tmp_path / "flows" / "top.yaml", document("top", a=sub("child.yaml")))
    write(tmp_path / "shared" / "child.yaml", document("shared-child"))

    defn = load_definition(top, base_dir=tmp_path / "shared")

    assert defn.library["child.yaml"].name == "shared-child"


def test_a_workflow_object_uses_base_dir_or_the_current_directory(tmp_path, monkeypatch):
    write(tmp_path / "child.yaml", document("child"))
    wf = parse_workflow(document("top", a=sub("child.yaml")))

    assert load_definition(wf, base_dir=tmp_path).library["child.yaml"].name == "child"
    monkeypatch.chdir(tmp_path)
    defn = load_definition(wf)
    assert defn.library["child.yaml"].name == "child"
    assert defn.source is None


def test_paths_inside_inline_bodies_are_loaded(tmp_path):
    body = document("body", inner=sub("child.yaml"))
    loop = {
        "type": "Loop",
        "config": {
            "loop_type": {
                "variant": "ForEach",
                "collection_path": "items",
                "item_variable": "x",
                "body": body,
            }
        },
    }
    top = write(tmp_path / "top.yaml", document("top", loop=loop))
    write(tmp_path / "child.yaml", document("child"))

    assert set(load_definition(top).library) == {"child.yaml"}


def test_a_recursive_workflow_loads_once(tmp_path, loads):
    top = write(tmp_path / "self.yaml", document("self", again=sub("self.yaml")))

    defn = load_definition(top)

    assert list(defn.library) == ["self.yaml"]
    assert defn.library["self.yaml"].content_hash == defn.workflow.content_hash
    assert loads[str(top.resolve())] == 2  # once as the top level, once for the library


def test_mutually_recursive_workflows_load_once_each(tmp_path, loads):
    top = write(tmp_path / "a.yaml", document("a", call=sub("b.yaml")))
    write(tmp_path / "b.yaml", document("b", call=sub("a.yaml")))

    defn = load_definition(top)

    assert set(defn.library) == {"a.yaml", "b.yaml"}
    assert loads[str((tmp_path / "b.yaml").resolve())] == 1


def test_a_missing_sub_workflow_file_names_the_path(tmp_path):
    top = write(tmp_path / "top.yaml", document("top", a=sub("child.yaml")))
    write(tmp_path / "child.yaml", document("child", c=sub("sub/missing.yaml")))

    with pytest.raises(WorkflowLoadError) as info:
        load_definition(top)
    message = str(info.value)
    assert "sub/missing.yaml" in message
    assert str(tmp_path / "sub" / "missing.yaml") in message


def test_a_missing_top_level_file_names_the_path(tmp_path):
    with pytest.raises(WorkflowLoadError, match=r"nowhere\.yaml"):
        load_definition(tmp_path / "nowhere.yaml")


# -- hash -------------------------------------------------------------------------------------


def test_hash_without_library_is_the_workflow_hash():
    wf = build({"start": START, "a": value(1), "end": END}, "start>a, a>end")
    assert Definition(wf).hash == wf.content_hash


def test_hash_changes_when_a_library_file_changes(tmp_path):
    top = write(tmp_path / "top.yaml", document("top", a=sub("child.yaml")))
    write(tmp_path / "child.yaml", document("child", c=sub("sub/grand.yaml")))
    grand = write(tmp_path / "sub" / "grand.yaml", document("grand", g=value(1)))

    before = load_definition(top)
    again = load_definition(top)
    write(grand, document("grand", g=value(2)))
    after = load_definition(top)

    assert before.hash != before.workflow.content_hash
    assert again.hash == before.hash
    assert after.workflow.content_hash == before.workflow.content_hash
    assert after.library["child.yaml"].content_hash == before.library["child.yaml"].content_hash
    assert after.hash != before.hash


def test_library_data_round_trip_keeps_the_hash(tmp_path):
    top = write(tmp_path / "top.yaml", document("top", a=sub("child.yaml")))
    write(tmp_path / "child.yaml", document("child"))
    defn = load_definition(top)

    copy = Definition.from_data(defn.workflow, defn.library_data())

    assert copy.hash == defn.hash
    assert set(copy.library) == {"child.yaml"}


# -- resolve ----------------------------------------------------------------------------------

COMPOSITES = {
    "loop": {
        "type": "Loop",
        "config": {
            "loop_type": {
                "variant": "ForEach",
                "collection_path": "items",
                "item_variable": "x",
                "body": inline("loop-body"),
            }
        },
    },
    "guard": {
        "type": "TryCatch",
        "config": {"try_body": inline("try-body"), "catch_body": "child.yaml"},
    },
    "fan": {
        "type": "Parallel",
        "config": {
            "strategy": "WaitAll",
            "tasks": [{"id": "t0", "body": inline("task-body")}, {"id": "t1", "expression": "1"}],
        },
    },
}


@pytest.fixture
def composite_definition(tmp_path) -> Definition:
    top = write(tmp_path / "top.yaml", document("top", **COMPOSITES))
    write(tmp_path / "child.yaml", document("child"))
    return load_definition(top)


def test_resolve_a_path(composite_definition):
    child = composite_definition.resolve("path:child.yaml")
    assert child.workflow is composite_definition.library["child.yaml"]
    assert child.library == composite_definition.library


@pytest.mark.parametrize(
    ("ref", "name"),
    [
        ("inline:loop:loop_type.body", "loop-body"),
        ("inline:guard:try_body", "try-body"),
        ("inline:fan:tasks.0.body", "task-body"),
    ],
)
def test_resolve_an_inline_body(composite_definition, ref, name):
    resolved = composite_definition.resolve(ref)
    assert resolved.workflow.name == name
    assert [n.id for n in resolved.workflow.nodes] == ["s", "e"]
    assert resolved.library == composite_definition.library
    assert composite_definition.resolve(ref).workflow is resolved.workflow  # parsed once


@pytest.mark.parametrize(
    ("ref", "fragment"),
    [
        ("path:nope.yaml", "sub-workflow 'nope.yaml' is not in this definition"),
        ("child.yaml", "bad sub-workflow reference 'child.yaml'"),
        ("file:child.yaml", "bad sub-workflow reference"),
        ("inline:ghost:try_body", "node ghost has no inline sub-workflow in try_body"),
        ("inline:loop:try_body", "node loop has no inline sub-workflow in try_body"),
        ("inline:guard:catch_body", "has no inline sub-workflow"),  # a path, not inline
        ("inline:fan:tasks.1.body", "has no inline sub-workflow"),
    ],
)
def test_resolve_errors(composite_definition, ref, fragment):
    with pytest.raises(WorkflowLoadError) as info:
        composite_definition.resolve(ref)
    assert fragment in str(info.value)


# -- body_fields / body_ref -------------------------------------------------------------------


def test_loop_inline_body():
    node = node_of(COMPOSITES["loop"], "loop")
    assert list(body_fields(node)) == [("loop_type.body", inline("loop-body"))]
    assert body_ref(node, "loop_type.body") == "inline:loop:loop_type.body"
    assert body_ref(node, "loop_type.workflow_path") is None


def test_loop_body_as_a_path_and_workflow_path():
    lt = {"variant": "Repeat", "count": 2, "body": "a.yaml", "workflow_path": "b.yaml"}
    node = node_of({"type": "Loop", "config": {"loop_type": lt}})
    assert list(body_fields(node)) == [
        ("loop_type.body", "a.yaml"),
        ("loop_type.workflow_path", "b.yaml"),
    ]
    assert body_ref(node, "loop_type.body") == "path:a.yaml"
    assert body_ref(node, "loop_type.workflow_path") == "path:b.yaml"


def test_loop_with_an_expression_body_has_no_fields():
    lt = {"variant": "Repeat", "count": 2, "body_expression": "{{i}}"}
    node = node_of({"type": "Loop", "config": {"loop_type": lt}})
    assert list(body_fields(node)) == []
    assert body_ref(node, "loop_type.body") is None


def test_trycatch_bodies():
    config = {"finally_body": "f.yaml", "catch_body": inline("c"), "try_body": "t.yaml"}
    node = node_of({"type": "TryCatch", "config": config}, "tc")
    assert list(body_fields(node)) == [
        ("try_body", "t.yaml"),
        ("catch_body", inline("c")),
        ("finally_body", "f.yaml"),
    ]
    assert body_ref(node, "try_body") == "path:t.yaml"
    assert body_ref(node, "catch_body") == "inline:tc:catch_body"
    assert body_ref(node, "finally_body") == "path:f.yaml"


def test_trycatch_with_expressions_only_has_no_fields():
    node = node_of({"type": "TryCatch", "config": {"try_expression": "1"}})
    assert list(body_fields(node)) == []
    assert body_ref(node, "try_body") is None


def test_subworkflow_path():
    node = node_of(sub("kids/c.yaml"))
    assert list(body_fields(node)) == [("workflow_path", "kids/c.yaml")]
    assert body_ref(node, "workflow_path") == "path:kids/c.yaml"
    assert body_ref(node, "workflow") is None


def test_subworkflow_inline_workflow_wins_over_the_path():
    config = {"workflow_path": "c.yaml", "workflow": inline("w")}
    node = node_of({"type": "SubWorkflow", "config": config}, "sw")
    assert list(body_fields(node)) == [("workflow", inline("w"))]
    assert body_ref(node, "workflow") == "inline:sw:workflow"
    assert body_ref(node, "workflow_path") is None


def test_subworkflow_without_a_workflow_has_no_fields():
    node = node_of(sub(""))
    assert list(body_fields(node)) == []
    assert body_ref(node, "workflow_path") is None


def test_parallel_task_bodies():
    tasks = [
        {"id": "a", "body": inline("a")},
        {"id": "b", "expression": "{{x}}"},
        {"id": "c", "body": "c.yaml"},
    ]
    node = node_of({"type": "Parallel", "config": {"strategy": "AllSettled", "tasks": tasks}}, "p")
    assert list(body_fields(node)) == [("tasks.0.body", inline("a")), ("tasks.2.body", "c.yaml")]
    assert body_ref(node, "tasks.0.body") == "inline:p:tasks.0.body"
    assert body_ref(node, "tasks.1.body") is None
    assert body_ref(node, "tasks.2.body") == "path:c.yaml"


@pytest.mark.parametrize("kind", [START, END, value(1)])
def test_other_kinds_have_no_fields(kind):
    node = node_of(kind)
    assert list(body_fields(node)) == []
    assert body_ref(node, "workflow_path") is None
