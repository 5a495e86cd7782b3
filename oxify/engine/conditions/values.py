"""Value semantics shared by the evaluator and the functions: JSON equality, numbers, limits."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from oxify.engine.conditions.limits import MAX_INT, MAX_SEQUENCE_LENGTH
from oxify.engine.paths import type_name
from oxify.errors import EvaluationError

__all__ = [
    "check_length",
    "check_number",
    "is_list",
    "is_number",
    "json_equal",
    "truthy",
    "type_name",
]


def is_number(value: Any) -> bool:
    """An int or float, but not a bool (bool is never a number here)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def is_list(value: Any) -> bool:
    """A JSON array (list or tuple)."""
    return isinstance(value, list | tuple)


def check_number(value: int | float) -> int | float:
    """Return ``value`` if it is within limits: ``|int| <= 2**63``, floats finite."""
    if isinstance(value, int):
        if abs(value) > MAX_INT:
            raise EvaluationError("integer out of range (the limit is 2**63)")
    elif not math.isfinite(value):
        raise EvaluationError("the result is not a finite number")
    return value


def check_length(length: int, what: str) -> None:
    """Refuse to build a string or list longer than ``MAX_SEQUENCE_LENGTH``."""
    if length > MAX_SEQUENCE_LENGTH:
        raise EvaluationError(f"{what} would be {length} long; the limit is {MAX_SEQUENCE_LENGTH}")


def truthy(value: Any) -> bool:
    """Python truthiness of a JSON value: null, false, 0, "", [] and {} are false."""
    if value is None:
        return False
    if isinstance(value, bool | int | float | str | list | tuple | Mapping):
        return bool(value)
    return True


def json_equal(a: Any, b: Any) -> bool:
    """JSON equality: ``1 == 1.0``, ``true != 1``, ``null == null``; iterative (no recursion)."""
    stack = [(a, b)]
    while stack:
        x, y = stack.pop()
        if is_number(x) and is_number(y):
            if x != y:
                return False
        elif isinstance(x, bool) or isinstance(y, bool):
            if not (isinstance(x, bool) and isinstance(y, bool) and x == y):
                return False
        elif x is None or y is None:
            if not (x is None and y is None):
                return False
        elif isinstance(x, str) or isinstance(y, str):
            if not (isinstance(x, str) and isinstance(y, str) and x == y):
                return False
        elif is_list(x) and is_list(y):
            if len(x) != len(y):
                return False
            stack.extend(zip(x, y, strict=True))
        elif isinstance(x, Mapping) and isinstance(y, Mapping):
            if len(x) != len(y) or any(key not in y for key in x):
                return False
            stack.extend((x[key], y[key]) for key in x)
        elif type(x) is not type(y) or x != y:
            return False
    return True
