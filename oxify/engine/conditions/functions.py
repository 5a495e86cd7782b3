"""The allow-listed, pure functions a condition may call. Nothing else can be called."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from oxify.engine.conditions.limits import MAX_CONVERT_LENGTH
from oxify.engine.conditions.values import (
    check_length,
    check_number,
    is_list,
    is_number,
    json_equal,
    type_name,
)
from oxify.engine.templates import to_text
from oxify.errors import EvaluationError


@dataclass(frozen=True, slots=True)
class Function:
    """One callable: its arity (``max_args`` None = any number) and implementation."""

    name: str
    min_args: int
    max_args: int | None
    call: Callable[..., Any]
    signature: str


def _need(value: Any, ok: bool, function: str, expected: str) -> None:
    if not ok:
        raise EvaluationError(f"{function}() needs {expected}, got {type_name(value)}")


def _len(value: Any) -> int:
    _need(
        value, isinstance(value, str | Mapping) or is_list(value), "len", "a string, list or dict"
    )
    return len(value)


def _lower(value: Any) -> str:
    _need(value, isinstance(value, str), "lower", "a string")
    return str(value).lower()


def _upper(value: Any) -> str:
    _need(value, isinstance(value, str), "upper", "a string")
    return str(value).upper()


def contains(haystack: Any, needle: Any) -> bool:
    """``needle in haystack``: substring, list membership (JSON equality) or dict key."""
    if isinstance(haystack, str):
        if not isinstance(needle, str):
            raise EvaluationError(
                f"cannot look for a {type_name(needle)} in a string (only a string)"
            )
        return needle in haystack
    if is_list(haystack):
        return any(json_equal(needle, item) for item in haystack)
    if isinstance(haystack, Mapping):
        if not isinstance(needle, str):
            raise EvaluationError(f"cannot look for a {type_name(needle)} key in a dict")
        return needle in haystack
    raise EvaluationError(
        f"cannot look for a value in a {type_name(haystack)} (only in a string, list or dict)"
    )


def _affix(name: str, check: Callable[[str, str], bool]) -> Callable[[Any, Any], bool]:
    def call(text: Any, part: Any) -> bool:
        _need(text, isinstance(text, str), name, "a string as first argument")
        _need(part, isinstance(part, str), name, "a string as second argument")
        return check(text, part)

    return call


def _convert_text(value: str, function: str) -> str:
    if len(value) > MAX_CONVERT_LENGTH:
        raise EvaluationError(
            f"{function}() of a string longer than {MAX_CONVERT_LENGTH} characters"
        )
    return value.strip()


def _int(value: Any) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return int(check_number(value))
    if isinstance(value, float):
        check_number(value)
        return int(check_number(int(value)))
    _need(value, isinstance(value, str), "int", "a number, bool or string")
    try:
        result = int(_convert_text(value, "int"))
    except ValueError:
        raise EvaluationError(f"int() cannot convert '{value}' to an integer") from None
    return int(check_number(result))


def _float(value: Any) -> float:
    if isinstance(value, bool | int | float):
        try:
            return float(check_number(float(value)))
        except OverflowError:
            raise EvaluationError("float() of an integer too large for a float") from None
    _need(value, isinstance(value, str), "float", "a number, bool or string")
    try:
        result = float(_convert_text(value, "float"))
    except ValueError:
        raise EvaluationError(f"float() cannot convert '{value}' to a number") from None
    return float(check_number(result))


def _str(value: Any) -> str:
    if isinstance(value, str):
        return value
    text = to_text(value)
    check_length(len(text), "str() result")
    return text


def _abs(value: Any) -> int | float:
    _need(value, is_number(value), "abs", "a number")
    return check_number(abs(value))


def _extreme(name: str, pick: Callable[[list[Any]], Any]) -> Callable[..., Any]:
    def call(*args: Any) -> Any:
        values = list(args[0]) if len(args) == 1 and is_list(args[0]) else list(args)
        if not values:
            raise EvaluationError(f"{name}() of an empty list")
        if all(is_number(v) for v in values) or all(isinstance(v, str) for v in values):
            return pick(values)
        kinds = sorted({type_name(v) for v in values})
        raise EvaluationError(
            f"{name}() needs all numbers or all strings, got {' and '.join(kinds)}"
        )

    return call


_TABLE = (
    Function("len", 1, 1, _len, "len(x)"),
    Function("lower", 1, 1, _lower, "lower(s)"),
    Function("upper", 1, 1, _upper, "upper(s)"),
    Function("contains", 2, 2, contains, "contains(haystack, needle)"),
    Function("startswith", 2, 2, _affix("startswith", str.startswith), "startswith(s, prefix)"),
    Function("endswith", 2, 2, _affix("endswith", str.endswith), "endswith(s, suffix)"),
    Function("int", 1, 1, _int, "int(x)"),
    Function("float", 1, 1, _float, "float(x)"),
    Function("str", 1, 1, _str, "str(x)"),
    Function("abs", 1, 1, _abs, "abs(x)"),
    Function("min", 1, None, _extreme("min", min), "min(list) or min(a, b, ...)"),
    Function("max", 1, None, _extreme("max", max), "max(list) or max(a, b, ...)"),
)

FUNCTIONS: Mapping[str, Function] = MappingProxyType({f.name: f for f in _TABLE})
"""Every function a condition may call, by name."""
