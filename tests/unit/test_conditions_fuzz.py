"""Property tests: the parser, evaluator and templates never fail with anything unexpected."""

from __future__ import annotations

import contextlib
import math
import operator
from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from oxify.engine.conditions import parse_condition
from oxify.engine.scope import Scope
from oxify.engine.templates import render
from oxify.errors import ConditionSyntaxError, EvaluationError, ExpressionError

FUZZ = settings(max_examples=300, deadline=None)

SCOPE = Scope(
    inputs={
        "a": 1,
        "b": 2.5,
        "s": "str",
        "l": [1, 2, "x"],
        "d": {"k": "v", "n": [0]},
        "t": True,
        "n": None,
    },
    outputs={"node-1": {"out": 3}},
    names={"node": "node-1"},
    node="fuzz",
)

OPERATOR_ALPHABET = " ()[]!<>=&|+-*/%.,'\"$\\abdklnst0123456789e_"
TOKENS = [
    *"abdlnstk",
    "0",
    "1",
    "2.5",
    "1e3",
    "'x'",
    '"s"',
    "true",
    "null",
    "and",
    "or",
    "not",
    "in",
    "(",
    ")",
    "[",
    "]",
    ",",
    ".",
    "==",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "+",
    "-",
    "*",
    "/",
    "%",
    "!",
    "&&",
    "||",
    "len",
    "lower",
    "min",
    "max",
    "str",
    "int",
    "float",
    "contains",
    "$d",
    "$node",
    "node.out",
]


def check_text(text: str) -> None:
    """Parsing raises only ConditionSyntaxError; evaluating only ExpressionError subclasses."""
    try:
        condition = parse_condition(text)
    except ConditionSyntaxError:
        return
    with contextlib.suppress(ExpressionError):
        condition.evaluate(SCOPE)
    condition.names()


@FUZZ
@given(st.text(max_size=200))
def test_random_text(text: str) -> None:
    check_text(text)


@FUZZ
@given(st.text(alphabet=OPERATOR_ALPHABET, max_size=80))
def test_random_operator_text(text: str) -> None:
    check_text(text)


@FUZZ
@given(st.lists(st.sampled_from(TOKENS), max_size=30).map(" ".join))
def test_random_token_sequences(text: str) -> None:
    check_text(text)


# -- well-formed arithmetic/logic against a plain-Python reference ------------------------------

Tree = tuple[Any, ...]
OVERFLOW = "overflow"
_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
}
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_PRECEDENCE = {"or": 1, "and": 2, "not": 3, "cmp": 4, "+": 5, "-": 5, "*": 6, "neg": 7}


class Overflow(Exception):
    pass


def reference(tree: Tree) -> Any:
    """Plain Python on the same tree (short-circuit logic, the 2**63 integer limit)."""
    kind = tree[0]
    if kind == "num":
        return tree[1]
    if kind == "neg":
        return _limit(-reference(tree[1]))
    if kind == "bin":
        left = reference(tree[2])
        return _limit(_BINARY[tree[1]](left, reference(tree[3])))
    if kind == "cmp":
        left = reference(tree[2])
        return _COMPARE[tree[1]](left, reference(tree[3]))
    if kind == "and":
        return bool(reference(tree[1])) and bool(reference(tree[2]))
    if kind == "or":
        return bool(reference(tree[1])) or bool(reference(tree[2]))
    assert kind == "not"
    return not reference(tree[1])


def _limit(value: Any) -> Any:
    if isinstance(value, int) and abs(value) > 2**63:
        raise Overflow
    if isinstance(value, float) and not math.isfinite(value):
        raise Overflow
    return value


def render_tree(tree: Tree) -> tuple[str, int]:
    """Source text with only the parentheses precedence needs, and its precedence."""
    kind = tree[0]
    if kind == "num":
        value = tree[1]
        return repr(value), (_PRECEDENCE["neg"] if value < 0 else 8)
    if kind in ("neg", "not"):
        own = _PRECEDENCE[kind]
        text, inner = render_tree(tree[1])
        if inner < own:
            text = f"({text})"
        return ("-" if kind == "neg" else "!") + text, own
    if kind in ("and", "or"):
        own = _PRECEDENCE[kind]
        left, right = tree[1], tree[2]
        word = {"and": "&&", "or": "||"}[kind]
    else:
        own = _PRECEDENCE["cmp" if kind == "cmp" else tree[1]]
        left, right = tree[2], tree[3]
        word = tree[1]
    left_text, left_prec = render_tree(left)
    right_text, right_prec = render_tree(right)
    non_associative = kind == "cmp"
    if left_prec < own or (non_associative and left_prec == own):
        left_text = f"({left_text})"
    if right_prec <= own:
        right_text = f"({right_text})"
    return f"{left_text} {word} {right_text}", own


def _expected(tree: Tree) -> tuple[str, Any]:
    try:
        value = reference(tree)
    except Overflow:
        value = OVERFLOW
    return render_tree(tree)[0], value


numbers = st.one_of(
    st.integers(-1000, 1000),
    st.integers(-(2**40), 2**40),
    st.sampled_from([0.5, 1.25, -0.75, 3.0]),
).map(lambda v: ("num", v))
numeric: st.SearchStrategy[Tree] = st.recursive(
    numbers,
    lambda inner: st.one_of(
        st.tuples(st.just("bin"), st.sampled_from(sorted(_BINARY)), inner, inner),
        st.tuples(st.just("neg"), inner),
    ),
    max_leaves=12,
)
comparison = st.tuples(st.just("cmp"), st.sampled_from(sorted(_COMPARE)), numeric, numeric)
logic: st.SearchStrategy[Tree] = st.recursive(
    comparison,
    lambda inner: st.one_of(
        st.tuples(st.just("and"), inner, inner),
        st.tuples(st.just("or"), inner, inner),
        st.tuples(st.just("not"), inner),
    ),
    max_leaves=6,
)


@FUZZ
@given(st.one_of(numeric, logic).map(_expected))
def test_well_formed_expressions_match_python(case: tuple[str, Any]) -> None:
    text, expected = case
    condition = parse_condition(text)
    if expected == OVERFLOW:
        try:
            condition.evaluate(SCOPE)
        except EvaluationError as e:
            assert "out of range" in str(e) or "finite" in str(e)
        else:
            raise AssertionError(f"{text!r} should overflow")
        return
    value = condition.evaluate(SCOPE)
    assert value == expected, text
    assert type(value) is type(expected), text


# -- templates -----------------------------------------------------------------------------------


def check_template(text: str) -> None:
    with contextlib.suppress(ExpressionError):
        render(text, SCOPE)


@FUZZ
@given(st.text(max_size=200))
def test_random_templates(text: str) -> None:
    check_template(text)


@FUZZ
@given(st.text(alphabet="{}\\ .[]\"'-abdlnst0123_", max_size=60))
def test_random_brace_templates(text: str) -> None:
    check_template(text)


@FUZZ
@given(st.lists(st.sampled_from(["{{", "}}", "a", " ", "l[1]", "d.k", "\\", "x", "."])))
def test_random_template_pieces(pieces: list[str]) -> None:
    check_template("".join(pieces))
