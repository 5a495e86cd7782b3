"""Load and save workflows as JSON or YAML, with every shape problem reported at once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import pydantic
import yaml

from oxify.errors import ValidationError, WorkflowLoadError
from oxify.model.issues import Issue
from oxify.model.kinds import KIND_NAMES
from oxify.model.workflow import Workflow

Format = Literal["json", "yaml"]


class _YamlLoader(yaml.SafeLoader):
    """PyYAML's safe loader, minus timestamp resolution: the Rust engine writes RFC3339
    timestamps unquoted, and they must stay the strings they were."""


def _yaml_mapping(loader: _YamlLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    out: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in out:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        out[key] = loader.construct_object(value_node, deep=True)
    return out


_YamlLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _yaml_mapping)
_YamlLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def parse_text(text: str, fmt: Format, *, source: str = "<string>") -> Any:
    """Parse JSON (strict: no NaN, no duplicate keys) or YAML into plain data."""
    if fmt == "json":
        try:
            return json.loads(
                text, parse_constant=_reject_constant, object_pairs_hook=_no_duplicates
            )
        except json.JSONDecodeError as e:
            raise WorkflowLoadError(
                f"{source}: invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}"
            ) from e
        except ValueError as e:
            raise WorkflowLoadError(f"{source}: invalid JSON: {e}") from e
    try:
        return yaml.load(text, Loader=_YamlLoader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise WorkflowLoadError(f"{source}: invalid YAML{where}: {e.problem}") from e
    except yaml.YAMLError as e:
        raise WorkflowLoadError(f"{source}: invalid YAML: {e}") from e


def _json_path(loc: tuple[int | str, ...]) -> str:
    out = "$"
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _clean_loc(loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    # pydantic inserts the union tag ("LLM", "ForEach") into locations; drop it.
    out: list[int | str] = []
    for i, part in enumerate(loc):
        prev = loc[i - 1] if i else None
        if (
            prev in ("kind", "loop_type")
            and isinstance(part, str)
            and part not in ("type", "config")
        ):
            continue
        out.append(part)
    return tuple(out)


def _node_of(data: Any, loc: tuple[int | str, ...]) -> tuple[str | None, str | None]:
    if len(loc) >= 2 and loc[0] == "nodes" and isinstance(loc[1], int):
        nodes = data.get("nodes") if isinstance(data, dict) else None
        if isinstance(nodes, list) and loc[1] < len(nodes) and isinstance(nodes[loc[1]], dict):
            raw = nodes[loc[1]]
            node_id = raw.get("id")
            name = raw.get("name")
            return (
                node_id if isinstance(node_id, str) else None,
                name if isinstance(name, str) else None,
            )
    return None, None


def _issue_from(err: Any, data: Any) -> Issue:
    loc = _clean_loc(tuple(err["loc"]))
    node_id, node_name = _node_of(data, loc)
    kind = err["type"]
    if kind == "union_tag_invalid":
        tag = err.get("ctx", {}).get("tag")
        if loc and loc[-1] == "loop_type":
            message = f"unknown loop variant {tag!r} (known: ForEach, While, Repeat)"
        else:
            message = f"unknown node kind {tag!r} (known kinds: {', '.join(KIND_NAMES)})"
        return Issue("error", "unknown_kind", message, _json_path(loc), node_id, node_name)
    if kind == "union_tag_not_found":
        message = "missing 'type' (known kinds: " + ", ".join(KIND_NAMES) + ")"
        if loc and loc[-1] == "loop_type":
            message = "missing 'variant' (known: ForEach, While, Repeat)"
        return Issue("error", "missing_field", message, _json_path(loc), node_id, node_name)
    code = "missing_field" if kind == "missing" else "schema"
    message = err["msg"]
    if kind == "missing":
        message = f"missing required field '{loc[-1]}'"
    elif kind == "extra_forbidden":
        message = f"unexpected field '{loc[-1]}'"
    return Issue("error", code, message, _json_path(loc), node_id, node_name)


def parse_workflow(data: Any, *, source: str = "<workflow>") -> Workflow:
    """Build a :class:`Workflow` from plain data; every shape problem is reported at once.
    (:func:`oxify.parse_workflow` also reports the graph problems of a misshapen file.)"""
    if not isinstance(data, dict):
        raise WorkflowLoadError(
            f"{source}: a workflow is an object with 'nodes' and 'edges', got {type(data).__name__}"
        )
    try:
        return Workflow.model_validate(data)
    except pydantic.ValidationError as e:
        raise ValidationError([_issue_from(err, data) for err in e.errors()]) from None


def detect_format(path: Path) -> Format:
    """JSON for ``.json``, YAML for ``.yaml``/``.yml``; otherwise sniff the first character."""
    suffix = path.suffix.lower()
    if suffix == ".json":
        return "json"
    if suffix in (".yaml", ".yml"):
        return "yaml"
    head = path.read_text(encoding="utf-8", errors="replace").lstrip()[:1]
    return "json" if head in ("{", "[") else "yaml"


def load_workflow(path: str | Path) -> Workflow:
    """Read a workflow file (JSON or YAML).

    Raises :class:`~oxify.errors.WorkflowLoadError` for an unreadable or unparsable file and
    :class:`~oxify.errors.ValidationError` (listing every problem) for a wrong shape. It does
    not check graph rules; :func:`oxify.validate` does.
    """
    return parse_workflow(read_data(path), source=str(path))


def read_data(path: str | Path) -> Any:
    """A workflow file's plain data (JSON or YAML); :class:`WorkflowLoadError` if it cannot
    be read or parsed."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise WorkflowLoadError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise WorkflowLoadError(f"{p}: is a directory, not a workflow file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise WorkflowLoadError(f"{p}: cannot read: {e}") from None
    return parse_text(text, detect_format(p), source=str(p))


def workflow_to_data(workflow: Workflow, *, full: bool = False) -> dict[str, Any]:
    """Plain data for a workflow. By default only fields that were set (a faithful
    round-trip of a loaded file); ``full=True`` writes every field, as the Rust engine does."""
    return workflow.model_dump(mode="json", by_alias=True, exclude_unset=not full)


def dumps_workflow(workflow: Workflow, fmt: Format = "json", *, full: bool = False) -> str:
    """Serialize a workflow to JSON (indented) or YAML text."""
    data = workflow_to_data(workflow, full=full)
    if fmt == "json":
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    return str(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


def save_workflow(workflow: Workflow, path: str | Path, *, full: bool = False) -> None:
    """Write a workflow file; the format follows the suffix (``.yaml``/``.yml`` or JSON)."""
    p = Path(path)
    fmt: Format = "yaml" if p.suffix.lower() in (".yaml", ".yml") else "json"
    p.write_text(dumps_workflow(workflow, fmt, full=full), encoding="utf-8")
