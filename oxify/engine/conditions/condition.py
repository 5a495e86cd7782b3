"""The public face of the condition language: parse once (cached), evaluate many times."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from oxify.engine.conditions.evaluator import evaluate
from oxify.engine.conditions.nodes import Expr, Ref, children
from oxify.engine.conditions.parser import parse
from oxify.engine.conditions.values import truthy
from oxify.engine.paths import ParsedPath
from oxify.engine.scope import Scope


@dataclass(frozen=True, slots=True)
class Condition:
    """A parsed condition: its source ``text`` and syntax tree ``expr`` (immutable)."""

    text: str
    expr: Expr

    def evaluate(self, scope: Scope) -> Any:
        """The condition's value (any JSON value); see :func:`evaluate_condition` for a bool."""
        return evaluate(self.expr, scope)

    def holds(self, scope: Scope) -> bool:
        """Truthiness of :meth:`evaluate`."""
        return truthy(self.evaluate(scope))

    def paths(self) -> list[ParsedPath]:
        """Every name path the condition reads, in source order (``$a.b`` → ``a.b``)."""
        found: list[ParsedPath] = []
        stack = [self.expr]
        while stack:
            node = stack.pop()
            if isinstance(node, Ref):
                found.append(node.path)
            stack.extend(reversed(children(node)))
        return found

    def names(self) -> set[str]:
        """The root names referenced (first segment of each path)."""
        return {str(path.segments[0]) for path in self.paths()}


@lru_cache(maxsize=1024)
def parse_condition(text: str) -> Condition:
    """Parse ``text`` (cached); raise ConditionSyntaxError with the offending position."""
    return Condition(text, parse(text))


def check_condition(text: str) -> None:
    """Raise ConditionSyntaxError if ``text`` is not a valid condition."""
    parse_condition(text)


def evaluate_condition(text: str, scope: Scope) -> bool:
    """Parse (cached) and evaluate ``text``; the truthiness of its value."""
    return parse_condition(text).holds(scope)
