"""Name resolution: the read-only view of variables and upstream outputs a node sees.

A path's first segment (its *root*) is looked up in this order:

1. ``locals`` (loop item/index, error variable, ...), which shadow everything;
2. a node id (a key of ``outputs``);
3. a node name (``names`` maps it to an id);
4. the Rust engine's alias ``node_<id with '-' replaced by '_'>``;
5. workflow ``inputs``.

When the path is given as text, roots may contain dots: for ``step.one.result`` the roots
``step.one.result``, ``step.one`` and ``step`` are tried in that order, and the longest one
that exists wins. After a node root, a leading ``output`` segment is skipped unless the output
really has an ``output`` key, so ``{{retrieve.output.results}}`` equals ``{{retrieve.results}}``.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any, Final

from oxify.engine.paths import ParsedPath, Segment, format_path, parse, walk
from oxify.errors import EvaluationError, UnknownNameError

AMBIGUOUS: Final = "\x00ambiguous\x00"
"""Value of ``names[name]`` when several nodes share that name; resolving it is an error."""

_EMPTY: Final[Mapping[str, Any]] = {}


def index_names(pairs: Sequence[tuple[str, str]]) -> dict[str, str]:
    """Build a ``names`` mapping from ``(name, node_id)`` pairs, marking shared names AMBIGUOUS."""
    names: dict[str, str] = {}
    for name, node_id in pairs:
        previous = names.get(name)
        names[name] = node_id if previous is None or previous == node_id else AMBIGUOUS
    return names


class Scope:
    """What a node can read: inputs, visible upstream outputs, node names and locals.

    Cheap to build (the mappings are kept, not copied) and read-only; :meth:`with_locals`
    makes a new scope. ``node`` is the name of the node the scope is for (for messages).
    """

    __slots__ = ("_aliases", "_inputs", "_locals", "_names", "_node", "_outputs")

    def __init__(
        self,
        inputs: Mapping[str, Any],
        outputs: Mapping[str, Any],
        names: Mapping[str, str],
        locals: Mapping[str, Any] | None = None,
        node: str | None = None,
    ) -> None:
        self._inputs = inputs
        self._outputs = outputs
        self._names = names
        self._locals = locals if locals is not None else _EMPTY
        self._node = node
        self._aliases: dict[str, str] | None = None

    @property
    def inputs(self) -> Mapping[str, Any]:
        """Workflow input variables."""
        return self._inputs

    @property
    def outputs(self) -> Mapping[str, Any]:
        """Node id → output, for the nodes whose output is visible."""
        return self._outputs

    @property
    def names(self) -> Mapping[str, str]:
        """Node name → node id (or :data:`AMBIGUOUS`)."""
        return self._names

    @property
    def locals(self) -> Mapping[str, Any]:
        """Extra variables that shadow everything else."""
        return self._locals

    @property
    def node(self) -> str | None:
        """Name of the node this scope is for, if any."""
        return self._node

    def __repr__(self) -> str:
        return f"Scope(node={self._node!r}, roots={self.known_roots()!r})"

    def with_locals(self, values: Mapping[str, Any] | None = None, /, **kw: Any) -> Scope:
        """A new scope with more locals (``values`` and keywords; later ones win)."""
        merged = {**self._locals, **(values or {}), **kw}
        return Scope(self._inputs, self._outputs, self._names, merged, self._node)

    def known_roots(self) -> list[str]:
        """Every name a path may start with (aliases ``node_<id>`` left out), sorted."""
        roots = {*self._locals, *self._outputs, *self._names, *self._inputs}
        return sorted(str(root) for root in roots)

    def knows(self, name: str) -> bool:
        """Whether ``name`` is a root (local, node id, node name, alias or input)."""
        return (
            name in self._locals
            or name in self._outputs
            or name in self._names
            or name in self._alias_map()
            or name in self._inputs
        )

    def resolve(self, path: str | ParsedPath | Sequence[Segment]) -> Any:
        """The value at ``path``: text (``a.b[0]``), a :class:`ParsedPath`, or raw segments.

        Raw segments never join into a dotted root; text and ``ParsedPath`` do. Raises
        ``UnknownNameError`` for an unknown or ambiguous root and ``EvaluationError`` for a
        bad path or a missing key/index below the root.
        """
        parsed = _as_parsed(path)
        if not parsed.segments:
            raise EvaluationError("empty path")
        chosen = next((c for c in parsed.root_candidates() if self.knows(c[0])), None)
        if chosen is None:
            first = parsed.segments[0]
            raise self._unknown(first if isinstance(first, str) else format_path([first]))
        root, used = chosen
        is_node, value = self._lookup(root)
        rest = parsed.segments[used:]
        where = format_path([root])
        has_output_key = isinstance(value, Mapping) and "output" in value
        if is_node and rest and rest[0] == "output" and not has_output_key:
            rest = rest[1:]
            where += ".output"
        return walk(value, rest, where=where)

    def _lookup(self, name: str) -> tuple[bool, Any]:
        """(is a node output, value) for a known root; raises for ambiguous/invisible names."""
        if name in self._locals:
            return False, self._locals[name]
        if name in self._outputs:
            return True, self._outputs[name]
        target = self._names.get(name)
        if target is not None:
            if target == AMBIGUOUS:
                raise UnknownNameError(
                    name,
                    f"name '{name}'{self._where()} is ambiguous (several nodes have it); "
                    "use the node id",
                )
            if target in self._outputs:
                return True, self._outputs[target]
            raise UnknownNameError(
                name,
                f"node '{name}' has no output visible{self._where()}: "
                "it is not an upstream node that succeeded",
            )
        alias = self._alias_map().get(name)
        if alias is not None:
            return True, self._outputs[alias]
        return False, self._inputs[name]

    def _alias_map(self) -> dict[str, str]:
        if self._aliases is None:
            self._aliases = {
                "node_" + str(node_id).replace("-", "_"): node_id for node_id in self._outputs
            }
        return self._aliases

    def _where(self) -> str:
        return f" in node '{self._node}'" if self._node is not None else ""

    def _unknown(self, name: str) -> UnknownNameError:
        message = f"unknown name '{name}'{self._where()}: not a workflow input or an upstream node"
        close = difflib.get_close_matches(name, self.known_roots(), n=1)
        if close:
            message += f" (did you mean '{close[0]}'?)"
        return UnknownNameError(name, message)


def _as_parsed(path: str | ParsedPath | Sequence[Segment]) -> ParsedPath:
    if isinstance(path, ParsedPath):
        return path
    if isinstance(path, str):
        return parse(path)
    segments = tuple(path)
    return ParsedPath(segments, 1 if segments and isinstance(segments[0], str) else 0)
