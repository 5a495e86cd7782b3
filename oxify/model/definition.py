"""A workflow together with the sub-workflows it refers to by path: what an execution runs.

Composite nodes (Loop, TryCatch, SubWorkflow, Parallel) may run sub-workflows, written either
inline in the node's config (an object in the OxiFY format) or as a path to a workflow file.
Paths are read once, when the definition is loaded, relative to the directory of the
top-level workflow file (or ``base_dir``): every workflow they name, recursively, lands in the
definition's *library*, so a worker never needs the files, and the definition's hash pins
the exact text of all of them.

Sub-workflow fields (oxify extensions, except SubWorkflow's ``workflow_path``):

=============  ===========================================================================
Loop           ``loop_type.body`` (inline object or path) or ``loop_type.workflow_path``
TryCatch       ``try_body``, ``catch_body``, ``finally_body`` (inline object or path)
SubWorkflow    ``workflow_path`` or ``workflow`` (inline object)
Parallel       ``tasks[i].body`` (inline object or path)
=============  ===========================================================================

A *reference* names one of them from a node: ``path:<path as written>`` or
``inline:<node id>:<field>`` (``loop_type.body``, ``tasks.2.body``, ...).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from oxify.errors import ValidationError, WorkflowLoadError
from oxify.model.io import load_workflow, parse_workflow, workflow_to_data
from oxify.model.workflow import Node, Workflow


def _extra(model: Any) -> dict[str, Any]:
    return dict(getattr(model, "model_extra", None) or {})


def body_fields(node: Node) -> Iterator[tuple[str, Any]]:
    """``(field, value)`` for every sub-workflow field a node sets (value: str path or dict)."""
    kind = node.kind
    config = getattr(kind, "config", None)
    if config is None:
        return
    if kind.type == "Loop":
        extra = _extra(config.loop_type)
        for name in ("body", "workflow_path"):
            if extra.get(name) is not None:
                yield f"loop_type.{name}", extra[name]
    elif kind.type == "TryCatch":
        extra = _extra(config)
        for name in ("try_body", "catch_body", "finally_body"):
            if extra.get(name) is not None:
                yield name, extra[name]
    elif kind.type == "SubWorkflow":
        extra = _extra(config)
        if extra.get("workflow") is not None:
            yield "workflow", extra["workflow"]
        elif config.workflow_path:
            yield "workflow_path", config.workflow_path
    elif kind.type == "Parallel":
        for i, task in enumerate(config.tasks):
            body = _extra(task).get("body")
            if body is not None:
                yield f"tasks.{i}.body", body


def body_ref(node: Node, field_name: str) -> str | None:
    """The reference for a node's sub-workflow field, or None if the field is unset."""
    for name, value in body_fields(node):
        if name == field_name:
            return f"path:{value}" if isinstance(value, str) else f"inline:{node.id}:{name}"
    return None


_INLINE_CACHE: OrderedDict[tuple[str, str], Workflow] = OrderedDict()
_INLINE_LOCK = threading.Lock()


def inline_workflow(workflow: Workflow, node_id: str, field_name: str) -> Workflow:
    """Parse (once, cached) the inline sub-workflow in a node's field."""
    key = (workflow.content_hash, f"{node_id}:{field_name}")
    with _INLINE_LOCK:
        cached = _INLINE_CACHE.get(key)
        if cached is not None:
            _INLINE_CACHE.move_to_end(key)
            return cached
    node = workflow.nodes_by_id.get(node_id)
    value = dict(body_fields(node)).get(field_name) if node is not None else None
    if not isinstance(value, dict):
        raise WorkflowLoadError(f"node {node_id} has no inline sub-workflow in {field_name}")
    where = f"node {node.label if node else node_id}, {field_name}"
    parsed = parse_workflow(value, source=where)
    with _INLINE_LOCK:
        _INLINE_CACHE[key] = parsed
        while len(_INLINE_CACHE) > 256:
            _INLINE_CACHE.popitem(last=False)
    return parsed


@dataclass(frozen=True)
class Definition:
    """A workflow and its library of sub-workflows loaded from paths."""

    workflow: Workflow
    library: Mapping[str, Workflow] = field(default_factory=dict)
    source: str | None = field(default=None, compare=False)
    """The top-level workflow file, when it was loaded from one (absolute path)."""

    @cached_property
    def hash(self) -> str:
        """The identity of this exact definition (the workflow's content hash when it
        refers to no files)."""
        if not self.library:
            return self.workflow.content_hash
        h = hashlib.sha256(self.workflow.content_hash.encode())
        for path in sorted(self.library):
            h.update(f"\0{path}\0{self.library[path].content_hash}".encode())
        return h.hexdigest()

    def resolve(self, ref: str) -> Definition:
        """The definition of the sub-workflow a reference names (same library)."""
        if ref.startswith("path:"):
            path = ref[len("path:") :]
            child = self.library.get(path)
            if child is None:
                raise WorkflowLoadError(f"sub-workflow '{path}' is not in this definition")
            return Definition(child, self.library)
        if ref.startswith("inline:"):
            node_id, _, field_name = ref[len("inline:") :].partition(":")
            return Definition(inline_workflow(self.workflow, node_id, field_name), self.library)
        raise WorkflowLoadError(f"bad sub-workflow reference {ref!r}")

    def library_data(self) -> dict[str, Any]:
        """The library as plain data (path → workflow document)."""
        return {p: workflow_to_data(wf) for p, wf in self.library.items()}

    @classmethod
    def from_data(cls, workflow: Workflow, library: Mapping[str, Any] | None) -> Definition:
        return cls(
            workflow,
            {p: parse_workflow(d, source=p) for p, d in (library or {}).items()},
        )


def _paths_in(workflow: Workflow) -> Iterator[str]:
    """Paths named by the workflow's nodes, inline sub-workflows included."""
    for node in workflow.nodes:
        for name, value in body_fields(node):
            if isinstance(value, str):
                yield value
            elif isinstance(value, dict):
                try:
                    yield from _paths_in(inline_workflow(workflow, node.id, name))
                except (ValidationError, WorkflowLoadError):
                    continue  # validation reports a broken inline body


def load_definition(
    source: Workflow | str | Path,
    base_dir: str | Path | None = None,
    *,
    load: Callable[[Path], Workflow] | None = None,
) -> Definition:
    """Load a workflow and every workflow file it refers to (recursively, each once), each
    file with ``load`` (:func:`~oxify.model.io.load_workflow` by default).

    Paths are relative to ``base_dir``: by default the directory of ``source`` when it is
    a path, else the current directory. A missing or broken file is a
    :class:`~oxify.errors.WorkflowLoadError` naming it.
    """
    load = load or load_workflow
    origin: str | None = None
    if isinstance(source, Workflow):
        root = source
        base = Path(base_dir) if base_dir is not None else Path.cwd()
    else:
        root = load(Path(source))
        origin = str(Path(source).resolve())
        base = Path(base_dir) if base_dir is not None else Path(origin).parent
    library: dict[str, Workflow] = {}
    todo = list(_paths_in(root))
    while todo:
        rel = todo.pop()
        if rel in library:
            continue
        target = Path(rel) if Path(rel).is_absolute() else base / rel
        if not target.is_file():
            raise WorkflowLoadError(f"sub-workflow file {rel} not found (looked at {target})")
        library[rel] = load(target)
        todo.extend(_paths_in(library[rel]))
    return Definition(root, library, origin)
