"""Name resolution: the read-only view of variables and upstream outputs a node sees.

A path's first segment (its *root*) is looked up in this order:

1. ``locals`` (loop item/index, error variable, ...), which shadow everything;
2. a node id (a key of ``outputs``);
3. a node name (``names`` maps it to an id; a name whose node has no visible output is
   skipped here, and reported as such if nothing else matches);
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
_MISSING: Final = object()


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
        scope = Scope(self._inputs, self._outputs, self._names, merged, self._node)
        scope._aliases = self._aliases
        return scope

    def known_roots(self) -> list[str]:
        """Every name a path may start with (aliases ``node_<id>`` left out), sorted."""
        visible = set(self._outputs)
        names = {n for n, target in self._names.items() if target == AMBIGUOUS or target in visible}
        return sorted(str(root) for root in {*self._locals, *visible, *names, *self._inputs})

    def knows(self, name: str) -> bool:
        """Whether ``name`` is a root (local, node id, visible or ambiguous name, alias, input)."""
        try:
            return self._find(name) is not None
        except UnknownNameError:  # an ambiguous name is known, just not usable
            return True

    def resolve(self, path: str | ParsedPath | Sequence[Segment]) -> Any:
        """The value at ``path``: text (``a.b[0]``), a :class:`ParsedPath`, or raw segments.

        Raw segments never join into a dotted root; text and ``ParsedPath`` do. Raises
        ``UnknownNameError`` for an unknown or ambiguous root and ``EvaluationError`` for a
        bad path or a missing key/index below the root.
        """
        parsed = _as_parsed(path)
        if not parsed.segments:
            raise EvaluationError("empty path")
        root, used, is_node, value = self._locate(parsed)
        rest = parsed.segments[used:]
        where = format_path([root])
        has_output_key = isinstance(value, Mapping) and "output" in value
        if is_node and rest and rest[0] == "output" and not has_output_key:
            rest = rest[1:]
            where += ".output"
        return walk(value, rest, where=where)

    def _locate(self, parsed: ParsedPath) -> tuple[str, int, bool, Any]:
        """The longest root candidate that exists: (root, segments used, is node, value)."""
        for root, used in parsed.root_candidates():
            found = self._find(root)
            if found is not None:
                return root, used, found[0], found[1]
        raise self._unknown(parsed)

    def _find(self, name: str) -> tuple[bool, Any] | None:
        """(is a node output, value) for ``name``, or None; raises for an ambiguous name.

        Each mapping is read at most once per lookup (an ``outputs`` mapping may copy values
        when read).
        """
        value = self._locals.get(name, _MISSING)
        if value is not _MISSING:
            return False, value
        value = self._outputs.get(name, _MISSING)
        if value is not _MISSING:
            return True, value
        target = self._names.get(name)
        if target == AMBIGUOUS:
            raise UnknownNameError(
                name,
                f"name '{name}'{self._where()} is ambiguous (several nodes have it); "
                "use the node id",
            )
        if target is None and name.startswith("node_"):
            target = self._alias_map().get(name)
        if target is not None:
            value = self._outputs.get(target, _MISSING)
            if value is not _MISSING:
                return True, value
        value = self._inputs.get(name, _MISSING)
        if value is not _MISSING:
            return False, value
        return None

    def _alias_map(self) -> dict[str, str]:
        if self._aliases is None:
            self._aliases = {
                "node_" + str(node_id).replace("-", "_"): node_id for node_id in self._outputs
            }
        return self._aliases

    def _where(self) -> str:
        return f" in node '{self._node}'" if self._node is not None else ""

    def _unknown(self, parsed: ParsedPath) -> UnknownNameError:
        for root, _ in parsed.root_candidates():
            if root in self._names:  # a node name, but that node's output is not visible here
                return UnknownNameError(
                    root,
                    f"node '{root}' has no output visible{self._where()}: it is not upstream "
                    "of this node or it has not succeeded",
                )
        first = parsed.segments[0]
        name = first if isinstance(first, str) else format_path([first])
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
