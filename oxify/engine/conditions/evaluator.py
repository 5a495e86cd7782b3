"""Evaluate a condition's syntax tree against a :class:`~oxify.engine.scope.Scope`.

Evaluation is one pass over the tree (no loops, no user functions), so its cost is linear in
the tree's size plus the size of the values it touches; every operator checks the limits in
:mod:`~oxify.engine.conditions.limits` before building a bigger value.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any, Final

from oxify.engine.conditions.functions import FUNCTIONS, contains
from oxify.engine.conditions.nodes import (
    Arith,
    BoolOp,
    Call,
    Compare,
    Expr,
    Index,
    ListExpr,
    Literal,
    Not,
    Ref,
    Unary,
)
from oxify.engine.conditions.values import (
    check_length,
    check_number,
    is_list,
    is_number,
    json_equal,
    truthy,
    type_name,
)
from oxify.engine.paths import walk
from oxify.engine.scope import Scope
from oxify.errors import EvaluationError

_ORDER: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def evaluate(expr: Expr, scope: Scope) -> Any:
    """The value of ``expr``; raises ``EvaluationError`` / ``UnknownNameError``."""
    if isinstance(expr, Literal):
        return expr.value
    if isinstance(expr, Ref):
        return scope.resolve(expr.path)
    if isinstance(expr, BoolOp):
        want = expr.op == "||"  # '||' stops at the first true operand, '&&' at the first false
        for operand in expr.operands:
            if truthy(evaluate(operand, scope)) == want:
                return want
        return not want
    if isinstance(expr, Not):
        return not truthy(evaluate(expr.operand, scope))
    if isinstance(expr, Compare):
        return compare(expr.op, evaluate(expr.left, scope), evaluate(expr.right, scope))
    if isinstance(expr, Arith):
        result = evaluate(expr.first, scope)
        for op, operand in expr.rest:
            result = arithmetic(op, result, evaluate(operand, scope))
        return result
    if isinstance(expr, Unary):
        value = evaluate(expr.operand, scope)
        if not is_number(value):
            raise EvaluationError(f"cannot apply unary '{expr.op}' to {type_name(value)}")
        return check_number(-value if expr.op == "-" else value)
    if isinstance(expr, ListExpr):
        return [evaluate(item, scope) for item in expr.items]
    if isinstance(expr, Index):
        target = evaluate(expr.target, scope)
        key = evaluate(expr.key, scope)
        if not isinstance(key, str | int) or isinstance(key, bool):
            raise EvaluationError(
                f"'{expr.where}[...]': a key must be a string or an integer, got {type_name(key)}"
            )
        return walk(target, (key,), where=expr.where)
    if isinstance(expr, Call):
        return FUNCTIONS[expr.name].call(*(evaluate(arg, scope) for arg in expr.args))
    raise AssertionError(f"unknown node {expr!r}")  # pragma: no cover


def compare(op: str, left: Any, right: Any) -> bool:
    """``left OP right`` for the comparison operators (JSON equality, typed ordering)."""
    if op == "==":
        return json_equal(left, right)
    if op == "!=":
        return not json_equal(left, right)
    if op == "in":
        return contains(right, left)
    if op == "not in":
        return not contains(right, left)
    both_numbers = is_number(left) and is_number(right)
    if not (both_numbers or (isinstance(left, str) and isinstance(right, str))):
        raise EvaluationError(
            f"cannot compare {type_name(left)} and {type_name(right)} with '{op}'"
        )
    return _ORDER[op](left, right)


def arithmetic(op: str, left: Any, right: Any) -> Any:
    """``left OP right`` for ``+ - * / %`` with the language's types and limits."""
    if op == "+" and isinstance(left, str) and isinstance(right, str):
        check_length(len(left) + len(right), "the string")
        return left + right
    if op == "+" and is_list(left) and is_list(right):
        check_length(len(left) + len(right), "the list")
        return [*left, *right]
    if not (is_number(left) and is_number(right)):
        raise EvaluationError(f"cannot apply '{op}' to {type_name(left)} and {type_name(right)}")
    for operand in (left, right):
        if isinstance(operand, int) and abs(operand) > 2**63:
            raise EvaluationError(f"integer operand of '{op}' out of range (the limit is 2**63)")
    if op in "/%" and right == 0:
        raise EvaluationError("division by zero" if op == "/" else "modulo by zero")
    try:
        if op == "+":
            result = left + right
        elif op == "-":
            result = left - right
        elif op == "*":
            result = left * right
        elif op == "/":
            result = left / right
        else:
            result = left % right
    except OverflowError as e:
        raise EvaluationError(f"'{op}' overflowed: {e}") from e
    return check_number(result)
