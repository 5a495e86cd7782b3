"""Validation: every rule of the OxiFY format plus ours, all problems reported at once.

Errors block a run; warnings (unreachable node, dead end, duplicate edge, unknown field, ...)
do not. Each finding carries the node id and name and a JSON path into the document.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pydantic import BaseModel

from oxify.engine import regex_case
from oxify.engine.composite_checks import check_composite
from oxify.engine.conditions import parse_condition
from oxify.engine.plan import Plan, build_plan, find_cycle
from oxify.engine.templates import references
from oxify.errors import ConditionSyntaxError, CycleError, ExpressionError, ValidationError
from oxify.model.issues import Issue, Severity
from oxify.model.kinds import (
    CodeKind,
    CustomKind,
    EndKind,
    ForEachLoop,
    FormKind,
    IfElseKind,
    LlmKind,
    LoopKind,
    ParallelKind,
    RepeatLoop,
    RetrieverKind,
    SubWorkflowKind,
    SwitchKind,
    ToolKind,
    TryCatchKind,
    VisionKind,
    WhileLoop,
)
from oxify.model.workflow import Node, UseDefault, Workflow

CODE_RUNTIMES = ("rust", "rhai", "wasm", "webassembly")
VISION_PROVIDERS = ("mock", "tesseract", "surya", "paddle")
_CHOICE_FIELDS = ("Select", "MultiSelect", "Radio")
_UNPLANNABLE = ("cycle", "self_loop", "duplicate_id", "empty_workflow")


@dataclass
class ValidationReport:
    """The findings of :func:`validate`; ``ok`` is true when there is no error."""

    issues: list[Issue] = field(default_factory=list)

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "error"]

    @property
    def warnings(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors


class _Checker:
    def __init__(self, workflow: Workflow) -> None:
        self.wf = workflow
        self.issues: list[Issue] = []
        self.index = {n.id: i for i, n in reversed(list(enumerate(workflow.nodes)))}
        names: dict[str, list[str]] = {}
        for n in workflow.nodes:
            ids = names.setdefault(n.name, [])
            if n.id not in ids:  # a repeated id is reported once, as duplicate_id
                ids.append(n.id)
        self.names = names
        self.succs: dict[str, list[str]] = {n.id: [] for n in workflow.nodes}
        self.preds: dict[str, list[str]] = {n.id: [] for n in workflow.nodes}
        self._ancestors: dict[str, set[str]] | None = None
        self.aliases = {"node_" + n.id.replace("-", "_"): n.id for n in workflow.nodes}

    def add(
        self, severity: Severity, code: str, message: str, path: str, node: Node | None = None
    ) -> None:
        self.issues.append(
            Issue(
                severity,
                code,
                message,
                path,
                node.id if node else None,
                node.name if node else None,
            )
        )

    def npath(self, node: Node, suffix: str = "") -> str:
        return f"$.nodes[{self.index[node.id]}]{suffix}"

    def resolve_ref(self, ref: str) -> str | None:
        """A branch/route target given as a node id or a unique node name."""
        if ref in self.index:
            return ref
        ids = self.names.get(ref, [])
        if len(ids) == 1:
            return ids[0]
        if not ids and ref.startswith("node_"):
            return self.aliases.get(ref)
        return None

    # -- structure ---------------------------------------------------------------------------
    def structure(self) -> None:
        wf = self.wf
        if not wf.nodes:
            self.add("error", "empty_workflow", "the workflow has no nodes", "$.nodes")
            return
        seen: set[str] = set()
        for i, node in enumerate(wf.nodes):
            if not node.id.strip():
                self.add("error", "empty_id", "node id is empty", f"$.nodes[{i}].id")
            if node.id in seen:
                self.add(
                    "error",
                    "duplicate_id",
                    f"duplicate node id '{node.id}'",
                    f"$.nodes[{i}].id",
                    node,
                )
            seen.add(node.id)
        for name, ids in self.names.items():
            if len(ids) > 1:
                node = wf.nodes_by_id[ids[1]]
                self.add(
                    "warning",
                    "duplicate_name",
                    f"{len(ids)} nodes are named '{name}' ({', '.join(ids)}); templates must "
                    "use their ids",
                    self.npath(node, ".name"),
                    node,
                )
        for kind in ("Start", "End"):
            found = [n for n in wf.nodes if n.kind.type == kind]
            if not found:
                self.add(
                    "error",
                    f"missing_{kind.lower()}",
                    f"the workflow has no {kind} node",
                    "$.nodes",
                )
            for extra in found[1:]:
                self.add(
                    "error",
                    f"multiple_{kind.lower()}",
                    f"more than one {kind} node (first is {found[0].label})",
                    self.npath(extra, ".kind"),
                    extra,
                )
        pairs: set[tuple[str, str]] = set()
        for i, edge in enumerate(wf.edges):
            path = f"$.edges[{i}]"
            bad = False
            for end, ref in (("from", edge.source), ("to", edge.target)):
                if ref not in self.index:
                    self.add(
                        "error", "unknown_node", f"edge {end} unknown node '{ref}'", f"{path}.{end}"
                    )
                    bad = True
            if bad:
                continue
            if edge.source == edge.target:
                node = wf.nodes_by_id[edge.source]
                self.add("error", "self_loop", f"edge from {node.label} to itself", path, node)
                continue
            pair = (edge.source, edge.target)
            if pair in pairs:
                self.add(
                    "warning",
                    "duplicate_edge",
                    f"duplicate edge {edge.source} -> {edge.target} (ignored)",
                    path,
                )
                continue
            pairs.add(pair)
            self.succs[edge.source].append(edge.target)
            self.preds[edge.target].append(edge.source)
        for node in wf.nodes:
            if node.kind.type == "Start" and self.preds[node.id]:
                self.add(
                    "error",
                    "start_has_inputs",
                    "the Start node has incoming edges",
                    self.npath(node),
                    node,
                )
            if node.kind.type == "End" and self.succs[node.id]:
                self.add(
                    "error",
                    "end_has_outputs",
                    "the End node has outgoing edges",
                    self.npath(node),
                    node,
                )
        cycle = find_cycle([n.id for n in wf.nodes if n.id in self.index], pairs)
        if cycle:
            labels = " -> ".join(wf.nodes_by_id[n].label for n in cycle)
            node = wf.nodes_by_id[cycle[0]]
            self.add("error", "cycle", f"cycle: {labels}", self.npath(node), node)
            return
        self.reachability()

    def reachability(self) -> None:
        starts = [n.id for n in self.wf.nodes if n.kind.type == "Start"]
        if not starts:
            return
        reached = set(starts)
        stack = list(starts)
        while stack:
            for s in self.succs[stack.pop()]:
                if s not in reached:
                    reached.add(s)
                    stack.append(s)
        for node in self.wf.nodes:
            if self.wf.nodes_by_id[node.id] is not node:
                continue  # a second node with a repeated id: reported as duplicate_id
            if node.id not in reached:
                self.add(
                    "warning",
                    "unreachable",
                    "not reachable from the Start node (it still runs, with no inputs from Start)",
                    self.npath(node),
                    node,
                )
            if node.kind.type != "End" and not self.succs[node.id]:
                self.add(
                    "warning",
                    "dead_end",
                    "has no outgoing edge: its output reaches no End node",
                    self.npath(node),
                    node,
                )

    # -- per node ----------------------------------------------------------------------------
    def nodes(self) -> None:
        for node in self.wf.nodes:
            if node.id not in self.index or self.wf.nodes_by_id[node.id] is not node:
                continue
            self.unknown_fields(node)
            self.policies(node)
            self.kind_rules(node)

    def unknown_fields(self, node: Node) -> None:
        for path in _extras(node, ""):
            if _EXTENSION.match(path):
                continue
            field_name = path.rsplit(".", 1)[1]
            where = f" in {node.kind.type} config" if path.startswith(".kind.config") else ""
            self.add(
                "warning",
                "unknown_field",
                f"unknown field '{field_name}'{where} (kept, but oxify ignores it)",
                self.npath(node, path),
                node,
            )

    def document_fields(self) -> None:
        """Unknown fields outside the nodes: top level, metadata, edges."""
        paths = [f"$.{key}" for key in self.wf.model_extra or {}]
        paths += _extras(self.wf.metadata, "$.metadata")
        for i, edge in enumerate(self.wf.edges):
            paths += _extras(edge, f"$.edges[{i}]")
        for path in paths:
            field_name = path.rsplit(".", 1)[1]
            self.add(
                "warning",
                "unknown_field",
                f"unknown field '{field_name}' (kept, but oxify ignores it)",
                path,
            )

    def policies(self, node: Node) -> None:
        t = node.timeout_config
        if t is not None and isinstance(t.timeout_action, UseDefault):
            pass  # any text is a valid default (JSON when it parses, else a string)
        r = node.retry_config
        if r is not None and r.max_delay_ms < r.initial_delay_ms:
            self.add(
                "warning",
                "retry_delays",
                "max_delay_ms is below initial_delay_ms: every retry waits max_delay_ms",
                self.npath(node, ".retry_config"),
                node,
            )

    def require(self, node: Node, ok: bool, field_path: str, message: str) -> None:
        if not ok:
            self.add(
                "error",
                "invalid_config",
                message,
                self.npath(node, f".kind.config.{field_path}"),
                node,
            )

    def template(self, node: Node, text: str | None, field_path: str) -> None:
        if not text:
            return
        try:
            refs = references(text)
        except ExpressionError as e:
            self.add(
                "error",
                "invalid_template",
                str(e),
                self.npath(node, f".kind.config.{field_path}"),
                node,
            )
            return
        self.check_refs(node, refs, field_path)

    def condition(self, node: Node, text: str, field_path: str) -> None:
        try:
            condition = parse_condition(text)
        except ConditionSyntaxError as e:
            self.add(
                "error",
                "invalid_condition",
                f"condition syntax error: {e}",
                self.npath(node, f".kind.config.{field_path}"),
                node,
            )
            return
        refs = []
        for path in condition.paths():
            keys = []
            for segment in path.segments:
                if not isinstance(segment, str):
                    break
                keys.append(segment)
            refs.append(".".join(keys))
        self.check_refs(node, refs, field_path, what="condition")

    def ancestors(self, node_id: str) -> set[str] | None:
        """Transitive predecessors (computed on first use); None when the graph is unplannable."""
        if self._ancestors is None:
            if any(i.code in _UNPLANNABLE for i in self.issues):
                return None
            self._ancestors = _ancestors(self.wf, self.preds)
        return self._ancestors.get(node_id, set())

    def check_refs(
        self, node: Node, refs: list[str], field_path: str, what: str = "template"
    ) -> None:
        ancestors = self.ancestors(node.id) if refs else None
        if ancestors is None:
            return
        for ref in refs:
            for root in _root_candidates(ref):
                target = self.resolve_ref(root)
                if target is None or (target == node.id and root not in self.index):
                    continue
                if target not in ancestors:
                    other = self.wf.nodes_by_id[target]
                    shown = f"'{{{{{ref}}}}}'" if what == "template" else f"name '{ref}'"
                    self.add(
                        "error",
                        f"{what}_not_upstream",
                        f"{what} {shown} refers to node {other.label}, which is not "
                        "upstream of this node",
                        self.npath(node, f".kind.config.{field_path}"),
                        node,
                    )
                break

    def composite_expressions(self, node: Node) -> None:
        """Template and condition syntax (and upstream references) of composite bodies."""
        kind = node.kind
        if isinstance(kind, LoopKind):
            lt = kind.config.loop_type
            self.template(node, lt.body_expression, "loop_type.body_expression")
            if isinstance(lt, WhileLoop):
                self.condition(node, lt.condition, "loop_type.condition")
            if isinstance(lt, ForEachLoop) and "{{" in lt.collection_path:
                self.template(node, lt.collection_path, "loop_type.collection_path")
        elif isinstance(kind, TryCatchKind):
            for name in ("try", "catch", "finally"):
                text = getattr(kind.config, f"{name}_expression")
                self.template(node, text, f"{name}_expression")
        elif isinstance(kind, ParallelKind):
            for i, task in enumerate(kind.config.tasks):
                self.template(node, task.expression, f"tasks[{i}].expression")

    def kind_rules(self, node: Node) -> None:
        kind = node.kind
        if kind.type in ("Loop", "TryCatch", "SubWorkflow", "Parallel"):
            check_composite(
                node,
                self.npath(node, ".kind.config"),
                self.require,
                self.issues.append,
                lambda workflow: validate(workflow).issues,
            )
            self.composite_expressions(node)
        if isinstance(kind, LlmKind):
            c = kind.config
            self.require(node, bool(c.provider.strip()), "provider", "provider is empty")
            self.require(node, bool(c.model.strip()), "model", "model is empty")
            self.require(
                node, bool(c.prompt_template.strip()), "prompt_template", "prompt_template is empty"
            )
            self.require(
                node,
                c.temperature is None or 0.0 <= c.temperature <= 2.0,
                "temperature",
                f"temperature must be between 0 and 2, got {c.temperature}",
            )
            self.require(
                node,
                c.max_tokens is None or c.max_tokens > 0,
                "max_tokens",
                f"max_tokens must be positive, got {c.max_tokens}",
            )
            self.template(node, c.prompt_template, "prompt_template")
            self.template(node, c.system_prompt, "system_prompt")
        elif isinstance(kind, RetrieverKind):
            c2 = kind.config
            self.require(node, bool(c2.db_type.strip()), "db_type", "db_type is empty")
            self.require(node, bool(c2.collection.strip()), "collection", "collection is empty")
            self.require(node, c2.top_k >= 1, "top_k", f"top_k must be at least 1, got {c2.top_k}")
            self.template(node, c2.query, "query")
        elif isinstance(kind, CodeKind):
            c3 = kind.config
            self.require(
                node,
                c3.runtime.lower() in CODE_RUNTIMES,
                "runtime",
                f"unknown runtime '{c3.runtime}' (known: {', '.join(CODE_RUNTIMES)})",
            )
            self.require(node, bool(c3.code.strip()), "code", "code is empty")
        elif isinstance(kind, IfElseKind):
            c4 = kind.config
            self.condition(node, c4.expression, "expression")
            for field_name, ref in (
                ("true_branch", c4.true_branch),
                ("false_branch", c4.false_branch),
            ):
                self.route_target(node, ref, field_name)
            t_id, f_id = self.resolve_ref(c4.true_branch), self.resolve_ref(c4.false_branch)
            if t_id is not None and t_id == f_id:
                self.add(
                    "warning",
                    "same_branch",
                    "true_branch and false_branch are the same node",
                    self.npath(node, ".kind.config"),
                    node,
                )
            for s in self.succs.get(node.id, []):
                if s not in (t_id, f_id):
                    self.add(
                        "warning",
                        "unrouted_successor",
                        f"successor {self.wf.nodes_by_id[s].label} is neither branch: "
                        "it always runs",
                        self.npath(node),
                        node,
                    )
        elif isinstance(kind, SwitchKind):
            c5 = kind.config
            self.template(node, c5.switch_on, "switch_on")
            for i, case in enumerate(c5.cases):
                self.route_target(node, case.action, f"cases[{i}].action")
                if case.match_value.startswith(regex_case.PREFIX):
                    problem = regex_case.pattern_problem(case.match_value[len(regex_case.PREFIX) :])
                    self.require(node, problem is None, f"cases[{i}].match_value", problem or "")
            if c5.default_case is not None:
                self.route_target(node, c5.default_case, "default_case")
            if not c5.cases and c5.default_case is None:
                self.require(
                    node, False, "cases", "a Switch needs at least one case or a default_case"
                )
        elif isinstance(kind, ToolKind):
            c6 = kind.config
            self.require(node, bool(c6.server_id.strip()), "server_id", "server_id is empty")
            self.require(node, bool(c6.tool_name.strip()), "tool_name", "tool_name is empty")
        elif isinstance(kind, LoopKind):
            c7 = kind.config
            self.require(
                node,
                c7.max_iterations >= 1,
                "max_iterations",
                f"max_iterations must be at least 1, got {c7.max_iterations}",
            )
            lt = c7.loop_type
            if isinstance(lt, RepeatLoop) and isinstance(lt.count, int):
                self.require(
                    node,
                    lt.count >= 0,
                    "loop_type.count",
                    f"count must not be negative, got {lt.count}",
                )
        elif isinstance(kind, SubWorkflowKind):
            for key, mapping in kind.config.input_mappings.items():
                self.template(node, mapping, f"input_mappings.{key}")
        elif isinstance(kind, ParallelKind):
            c8 = kind.config
            self.require(node, bool(c8.tasks), "tasks", "a Parallel node needs at least one task")
            ids = [t.id for t in c8.tasks]
            dupes = sorted({i for i in ids if ids.count(i) > 1})
            self.require(node, not dupes, "tasks", f"duplicate task ids: {', '.join(dupes)}")
            self.require(
                node,
                c8.max_concurrency is None or c8.max_concurrency >= 1,
                "max_concurrency",
                "max_concurrency must be at least 1",
            )
        elif isinstance(kind, FormKind):
            c9 = kind.config
            self.require(node, bool(c9.title.strip()), "title", "title is empty")
            fids = [f.id for f in c9.fields]
            dupes = sorted({i for i in fids if fids.count(i) > 1})
            self.require(node, not dupes, "fields", f"duplicate field ids: {', '.join(dupes)}")
            for i, f in enumerate(c9.fields):
                if f.field_type in _CHOICE_FIELDS:
                    self.require(
                        node,
                        bool(f.options),
                        f"fields[{i}].options",
                        f"a {f.field_type} field needs options",
                    )
        elif isinstance(kind, VisionKind):
            c10 = kind.config
            self.require(
                node,
                c10.provider.lower() in VISION_PROVIDERS,
                "provider",
                f"unknown vision provider '{c10.provider}' (known: {', '.join(VISION_PROVIDERS)})",
            )
            self.template(node, c10.image_input, "image_input")
        elif isinstance(kind, CustomKind):
            self.require(
                node, bool(kind.config.plugin_id.strip()), "plugin_id", "plugin_id is empty"
            )
        elif isinstance(kind, EndKind) and kind.config is not None and kind.config.outputs:
            for key, value in kind.config.outputs.items():
                if isinstance(value, str):
                    self.template(node, value, f"outputs.{key}")

    def route_target(self, node: Node, ref: str, field_path: str) -> None:
        target = self.resolve_ref(ref)
        path = self.npath(node, f".kind.config.{field_path}")
        if target is None:
            why = "ambiguous name" if len(self.names.get(ref, [])) > 1 else "no such node"
            self.add("error", "unknown_node", f"{field_path} '{ref}': {why}", path, node)
        elif target not in self.succs.get(node.id, []):
            label = self.wf.nodes_by_id[target].label
            self.add(
                "error",
                "route_not_successor",
                f"{field_path} {label} is not a direct successor "
                "(add an edge from this node to it)",
                path,
                node,
            )

    def run(self) -> list[Issue]:
        self.structure()
        self.document_fields()
        self.nodes()
        return self.issues


_EXTENSION = re.compile(
    r"^(\.queue|\.default_output|\.kind\.config\.(loop_type\.(body|workflow_path)"
    r"|try_body|catch_body|finally_body|workflow|tasks\[\d+\]\.body))$"
)
"""Node fields oxify adds to the OxiFY format (so they draw no unknown-field warning)."""


def _extras(model: BaseModel, path: str) -> list[str]:
    """JSON paths of every field of ``model`` (and the models inside it) that no schema
    declares; free-form values (``Any`` fields such as a Custom node's ``config``) are not
    searched."""
    found = [f"{path}.{key}" for key in model.model_extra or {}]
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            found += _extras(value, f"{path}.{name}")
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, BaseModel):
                    found += _extras(item, f"{path}.{name}[{i}]")
    return found


def _root_candidates(ref: str) -> list[str]:
    """Possible node names at the start of a template path, longest first."""
    head = re.split(r"\[", ref, maxsplit=1)[0]
    parts = head.split(".")
    return [".".join(parts[:i]).strip() for i in range(len(parts), 0, -1)]


def _ancestors(workflow: Workflow, preds: dict[str, list[str]]) -> dict[str, set[str]]:
    order = build_plan(workflow).order
    out: dict[str, set[str]] = {}
    for n in order:
        acc: set[str] = set()
        for p in preds[n]:
            acc.add(p)
            acc |= out[p]
        out[n] = acc
    return out


def validate(workflow: Workflow) -> ValidationReport:
    """Check every rule; never raises for a bad workflow, returns all findings."""
    return ValidationReport(_Checker(workflow).run())


def ensure_valid(workflow: Workflow) -> Plan:
    """Validate and plan; raises :class:`~oxify.errors.ValidationError` listing every error."""
    report = validate(workflow)
    if not report.ok:
        raise ValidationError(report.issues)
    try:
        return build_plan(workflow)
    except CycleError as e:  # pragma: no cover - validate() reports cycles first
        raise ValidationError([Issue("error", "cycle", str(e))]) from e
