"""Expression bodies of composite nodes (the OxiFY form of Loop, TryCatch and Parallel)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from oxify.engine.templates import render
from oxify.nodes.base import NodeContext
from oxify.nodes.composite import ChildResult


def evaluate_body(ctx: NodeContext, template: str, bound: Mapping[str, Any] | None = None) -> Any:
    """Render ``template`` with ``bound`` as local variables. A template that is one
    ``{{...}}`` keeps its value's JSON type; other text is parsed as JSON when it is JSON
    (``"[1, {{n}}]"`` gives a list, ``"42"`` a number, as the OxiFY engine does), else kept
    as text. Nothing is executed."""
    scope = ctx.scope.with_locals(bound) if bound else ctx.scope
    value = render(template, scope)
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def first_failure(results: list[ChildResult]) -> ChildResult | None:
    """The child whose failure ended the wait: the first that failed or timed out (in spawn
    order), else the first cancelled one; None if none did."""
    for states in (("failed", "timed_out"), ("cancelled",)):
        found = next((r for r in results if r.state in states), None)
        if found is not None:
            return found
    return None
