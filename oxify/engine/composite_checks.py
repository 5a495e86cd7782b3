"""Validation of composite nodes' bodies (Loop, TryCatch, SubWorkflow, Parallel).

Each composite needs a body: an OxiFY expression or a sub-workflow (inline or a path). An
inline sub-workflow is validated like any workflow; its problems are reported under the
node's field, so ``$.nodes[3].kind.config.loop_type.body.nodes[1]...`` points into it.
"""

from __future__ import annotations

from collections.abc import Callable

from oxify.errors import ValidationError, WorkflowError
from oxify.model.definition import body_fields
from oxify.model.io import parse_workflow
from oxify.model.issues import Issue
from oxify.model.kinds import LoopKind, ParallelKind, SubWorkflowKind, TryCatchKind
from oxify.model.workflow import Node, Workflow

Require = Callable[[Node, bool, str, str], None]
Add = Callable[[Issue], None]
Validate = Callable[[Workflow], list[Issue]]
"""Every issue of a workflow (:func:`oxify.engine.validate.validate`, passed in)."""


def check_composite(
    node: Node, base_path: str, require: Require, add: Add, validate: Validate
) -> None:
    """Report a composite node without a body and the problems of its inline bodies
    (checked with ``validate``)."""
    kind = node.kind
    fields = dict(body_fields(node))
    if isinstance(kind, LoopKind):
        has = kind.config.loop_type.body_expression is not None or any(
            f.startswith("loop_type.") for f in fields
        )
        require(node, has, "loop_type", "a Loop needs a body_expression, a body or a workflow_path")
    elif isinstance(kind, TryCatchKind):
        has = kind.config.try_expression is not None or "try_body" in fields
        require(node, has, "try_expression", "a TryCatch needs a try_expression or a try_body")
    elif isinstance(kind, SubWorkflowKind):
        has = bool(kind.config.workflow_path.strip()) or "workflow" in fields
        require(node, has, "workflow_path", "a SubWorkflow needs a workflow_path or a workflow")
    elif isinstance(kind, ParallelKind):
        for i, task in enumerate(kind.config.tasks):
            has = task.expression is not None or f"tasks.{i}.body" in fields
            require(node, has, f"tasks[{i}]", f"task '{task.id}' needs an expression or a body")
    for field_name, value in fields.items():
        where = base_path + "." + _json_path(field_name)
        if isinstance(value, str):
            require(node, bool(value.strip()), _json_path(field_name), "the path is empty")
        elif isinstance(value, dict):
            _check_inline(node, value, where, add, validate)
        else:
            require(
                node,
                False,
                _json_path(field_name),
                "a sub-workflow is an object (inline workflow) or a string (path)",
            )


def _json_path(field_name: str) -> str:
    parts = field_name.split(".")
    return "".join(f"[{p}]" if p.isdigit() else f".{p}" for p in parts).lstrip(".")


def _check_inline(
    node: Node, data: dict[str, object], where: str, add: Add, validate: Validate
) -> None:
    try:
        workflow = parse_workflow(data, source=where)
        issues = validate(workflow)
    except ValidationError as e:
        issues = e.issues
    except WorkflowError as e:
        issues = [Issue("error", "invalid_subworkflow", str(e), where, node.id, node.name)]
    for issue in issues:
        if issue.severity != "error":
            continue
        add(
            Issue(
                "error",
                issue.code,
                f"in sub-workflow: {issue.message}",
                where + issue.path.removeprefix("$"),
                node.id,
                node.name,
            )
        )
