"""Loading workflows with every problem reported at once.

:mod:`oxify.model` reads the format and reports shape problems; when a file's shape is
wrong, the functions here also check the graph rules (ids, edges, cycles, routes,
conditions) on the parts that parse, so that one run of ``oxify validate`` (or one error
from :func:`oxify.load_workflow`) lists everything. These are the public loaders.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pydantic

from oxify.engine.validate import validate
from oxify.errors import ValidationError
from oxify.model import definition as _definitions
from oxify.model import io
from oxify.model.definition import Definition
from oxify.model.issues import Issue
from oxify.model.workflow import Edge, Node, Workflow


def parse_workflow(data: Any, *, source: str = "<workflow>") -> Workflow:
    """Build a :class:`Workflow` from plain data; every problem is reported at once (a
    :class:`~oxify.errors.ValidationError` listing shape and graph problems)."""
    try:
        return io.parse_workflow(data, source=source)
    except ValidationError as e:
        if not isinstance(data, dict):
            raise
        raise ValidationError(e.issues + graph_issues(data)) from None


def load_workflow(path: str | Path) -> Workflow:
    """Read a workflow file (JSON or YAML), every problem reported at once.

    Raises :class:`~oxify.errors.WorkflowLoadError` for an unreadable or unparsable file and
    :class:`~oxify.errors.ValidationError` (listing every problem) for a wrong shape. It does
    not check the graph rules of a well-shaped file; :func:`oxify.validate` does.
    """
    return parse_workflow(io.read_data(path), source=str(path))


def load_definition(
    source: Workflow | str | Path, base_dir: str | Path | None = None
) -> Definition:
    """:func:`oxify.model.definition.load_definition` with every problem of a misshapen
    file reported at once."""
    return _definitions.load_definition(source, base_dir, load=load_workflow)


_PLACEHOLDER = "\x00invalid\x00"


def graph_issues(data: dict[str, Any]) -> list[Issue]:
    """Best effort: the graph rules (ids, edges, cycles, routes, conditions) checked on the
    parts of a workflow whose shape is right, so that every problem is reported at once."""
    raw_nodes = data.get("nodes")
    raw_edges = data.get("edges")
    if not isinstance(raw_nodes, list):
        return []
    nodes: list[Node] = []
    broken: set[str] = set()
    for i, raw in enumerate(raw_nodes):
        try:
            nodes.append(Node.model_validate(raw))
        except pydantic.ValidationError:
            raw_id = raw.get("id") if isinstance(raw, dict) else None
            node_id = raw_id if isinstance(raw_id, str) else f"nodes[{i}]"
            raw_kind = raw.get("kind") if isinstance(raw, dict) else None
            raw_type = raw_kind.get("type") if isinstance(raw_kind, dict) else None
            kind: dict[str, Any] = {"type": "Custom", "config": {"plugin_id": _PLACEHOLDER}}
            if raw_type in ("Start", "End"):  # keep the role: no false missing_start/end
                kind = {"type": raw_type}
            nodes.append(Node.model_validate({"id": node_id, "kind": kind}))
            broken.add(node_id)
    edges: list[Edge] = []
    for raw in raw_edges if isinstance(raw_edges, list) else []:
        try:
            edges.append(Edge.model_validate(raw))
        except pydantic.ValidationError:
            continue
    skeleton = Workflow(nodes=nodes, edges=edges)
    return [
        issue
        for issue in validate(skeleton).errors
        if issue.node_id not in broken or issue.code not in ("invalid_config", "schema")
    ]
