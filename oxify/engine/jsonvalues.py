"""JSON values: clean copies of what executors return and what callers pass in."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from oxify.errors import ConfigError

_SCALARS = (str, int, float, bool, type(None))


def json_copy(value: Any) -> Any:
    """A JSON-clean copy of ``value``; ``TypeError``/``ValueError`` if it is not JSON."""
    if isinstance(value, _SCALARS):
        if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
            raise ValueError("output is not JSON: NaN or infinity")
        return value
    return json.loads(json.dumps(value, allow_nan=False))


def clone(value: Any) -> Any:
    """A deep copy of a JSON value (so a node can never change another node's output)."""
    if isinstance(value, dict):
        return {k: clone(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clone(v) for v in value]
    return value


def json_inputs(inputs: Mapping[str, Any] | None) -> dict[str, Any]:
    """A JSON-clean copy of workflow inputs; :class:`ConfigError` if they are not JSON."""
    try:
        clean: dict[str, Any] = json_copy(dict(inputs or {}))
    except (TypeError, ValueError) as e:
        raise ConfigError(f"workflow inputs must be JSON values: {e}") from None
    return clean
