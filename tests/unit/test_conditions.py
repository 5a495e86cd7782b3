"""The condition language: syntax, semantics, errors, limits and safety."""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import sys
import time
from typing import Any

import pytest

from oxify.engine.conditions import (
    FUNCTIONS,
    MAX_DEPTH,
    MAX_SOURCE_LENGTH,
    Condition,
    check_condition,
    evaluate_condition,
    parse_condition,
)
from oxify.engine.scope import Scope
from oxify.errors import (
    ConditionSyntaxError,
    EvaluationError,
    ExpressionError,
    UnknownNameError,
)

NODE_ID = "1a2b3c4d-0000-4000-8000-0000000000ff"


def make_scope() -> Scope:
    return Scope(
        inputs={
            "score": 85,
            "passed": True,
            "status": "success",
            "x": 5,
            "y": 3,
            "ratio": 0.25,
            "name": "Alice",
            "empty": "",
            "nothing": None,
            "tags": ["red", "green"],
            "nums": [3, 1, 2],
            "items": [{"name": "first"}, {"name": "second"}],
            "user": {"age": 30, "name": "Bob"},
            "order": {"total": 120, "lines": [1, 2]},
            "big": 2**62,
            "long": "x" * 60_000,
            "count": 4,
            "kw": {"in": 1, "true": 2},
        },
        outputs={
            "n-classify": {"label": "positive", "confidence": 0.9},
            NODE_ID: {"user": {"age": 21}},
            "n-step": {"result": 7},
            "n-text": "raw",
        },
        names={"classify": "n-classify", "step.one": "n-step", "texty": "n-text"},
        node="Decide",
    )


def ev(text: str, scope: Scope | None = None) -> Any:
    return parse_condition(text).evaluate(scope or make_scope())


def syntax_error(text: str) -> ConditionSyntaxError:
    with pytest.raises(ConditionSyntaxError) as info:
        parse_condition(text)
    return info.value


# -- literals ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("42", 42),
        ("0", 0),
        ("007", 7),
        ("1.5", 1.5),
        ("1e3", 1000.0),
        ("2.5E-1", 0.25),
        ("1e+2", 100.0),
        ('"double"', "double"),
        ("'single'", "single"),
        (r'"a\"b\'c\\d\ne\tf\r"', "a\"b'c\\d\ne\tf\r"),
        (r"'it\'s'", "it's"),
        ('""', ""),
        ("true", True),
        ("false", False),
        ("null", None),
        ("True", True),
        ("False", False),
        ("None", None),
        ("[1, 2, 'a']", [1, 2, "a"]),
        ("[]", []),
        ("[1, [2, [3]],]", [1, [2, [3]]]),
        ("[x, y + 1]", [5, 4]),
        ("-9223372036854775808", -(2**63)),
    ],
)
def test_literals(text: str, expected: Any) -> None:
    value = ev(text)
    assert value == expected
    assert type(value) is type(expected)


# -- names ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("score", 85),
        ("user.age", 30),
        ("items[0].name", "first"),
        ("items[-1].name", "second"),
        ("items.1.name", "second"),
        ('user["name"]', "Bob"),
        ("user['age']", 30),
        ("classify.label", "positive"),
        ("classify.output.label", "positive"),
        ("step.one.result", 7),
        ("texty.output", "raw"),
        ("$order.total", 120),
        ("$order.lines[1]", 2),
        (f"$node_{NODE_ID.replace('-', '_')}.user.age", 21),
        (f"${NODE_ID}.user.age", 21),
        ("$n-classify.label", "positive"),
        ("kw.in + kw.true", 3),
        ("items[count - 3].name", "second"),
        ("nums[nums[1]]", 1),
        ("(user)['age']", 30),
        ("[10, 20, 30][1]", 20),
        ("[user][0].name", "Bob"),
    ],
)
def test_names_and_paths(text: str, expected: Any) -> None:
    assert ev(text) == expected


def test_dollar_name_swallows_a_dash() -> None:
    # '$count-1' is the name 'count-1'; write '$count - 1'
    with pytest.raises(UnknownNameError) as info:
        ev("$count-1 > 0")
    assert info.value.name == "count-1"
    assert ev("$count - 1") == 3
    # a name never ends with a dash: '$count-' is '$count' followed by a dangling minus
    with pytest.raises(ConditionSyntaxError, match="expected an expression"):
        parse_condition("$count- ")


def test_bare_identifiers_have_no_dashes() -> None:
    # without '$', a dash is a minus
    assert ev("count-1") == 3


def test_unknown_name_is_raised_by_scope() -> None:
    with pytest.raises(UnknownNameError) as info:
        ev("scroe > 3")
    assert info.value.name == "scroe"
    assert "node 'Decide'" in str(info.value)
    assert "did you mean 'score'?" in str(info.value)


def test_missing_key_and_bad_index() -> None:
    with pytest.raises(EvaluationError, match="no key 'email'"):
        ev("user.email == 1")
    with pytest.raises(EvaluationError, match=r"index 5 out of range \(length 2\)"):
        ev("items[5]")
    with pytest.raises(EvaluationError, match="a key must be a string or an integer"):
        ev("tags[true]")
    with pytest.raises(EvaluationError, match="a key must be a string or an integer"):
        ev("tags[0.5]")
    with pytest.raises(EvaluationError, match=r"'\[10\]\[3\]': index 3 out of range"):
        ev("[10][3]")


# -- operators -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # logic
        ("true || false", True),
        ("false or false", False),
        ("true && true", True),
        ("true and false", False),
        ("!true", False),
        ("not 0", True),
        ("!!name", True),
        ("score || 0", True),  # result is a bool, not the operand
        ("0 || nothing", False),
        ("tags && name", True),
        # comparisons
        ("1 == 1.0", True),
        ("true != 1", True),
        ("true == true", True),
        ("null == null", True),
        ("null == false", False),
        ("0 == false", False),
        ('"1" == 1', False),
        ("[1, 2] == [1.0, 2]", True),
        ("[1, 2] == [2, 1]", False),
        ("user == user", True),
        ("x != y", True),
        ("x > y", True),
        ("x >= 5", True),
        ("x < y", False),
        ("y <= 3", True),
        ("1.5 < 2", True),
        ('"apple" < "banana"', True),
        ('"b" >= "b"', True),
        # membership
        ('"li" in name', True),
        ('"red" in tags', True),
        ('"blue" not in tags', True),
        ("1.0 in [1, 2]", True),
        ("true in [1]", False),
        ('"age" in user', True),
        ('"zip" not in user', True),
        ("[1] in [[1], [2]]", True),
        # arithmetic
        ("1 + 2", 3),
        ("10 - 2 - 3", 5),
        ("2 * 3 * 4", 24),
        ("7 / 2", 3.5),
        ("8 / 2 / 2", 2.0),
        ("7 % 3", 1),
        ("-7 % 3", 2),
        ("7.5 % 2", 1.5),
        ("ratio * 4", 1.0),
        ("-x", -5),
        ("+x", 5),
        ("- -x", 5),
        ('"ab" + "cd"', "abcd"),
        ("[1] + [2, 3]", [1, 2, 3]),
        ("tags + []", ["red", "green"]),
    ],
)
def test_operators(text: str, expected: Any) -> None:
    value = ev(text)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 + 2 * 3 == 7", True),
        ("(1 + 2) * 3", 9),
        ("2 * 3 + 4 * 5", 26),
        ("1 - 2 * 3 - 4", -9),
        ("-2 * 3", -6),
        ("-(2 + 3) * 2", -10),
        ("true || false && false", True),  # && binds tighter than ||
        ("(true || false) && false", False),
        ("!x == 5", False),  # ! binds more loosely than == : !(x == 5)
        ("not x > 10 and passed", True),  # (not (x > 10)) and passed
        ("not false or false", True),
        ("x + 1 > y * 2 && status == 'success'", False),
        ("x + 1 >= y * 2 && status == 'success'", True),
        ('"a" + "b" in "xaby"', True),
        ("1 < 2 == true", "error"),
        ("(1 < 2) == true", True),
        ("x > y", True),
        ('status == "success"', True),
        ("score >= 80 && passed == true", True),
        ("(score > 90) || (score >= 80 && passed)", True),
    ],
)
def test_precedence(text: str, expected: Any) -> None:
    if expected == "error":
        with pytest.raises(ConditionSyntaxError):
            parse_condition(text)
    else:
        assert ev(text) == expected


def test_short_circuit() -> None:
    assert ev("false && missing_name") is False
    assert ev("true || missing_name") is True
    assert ev("false and (1 / 0)") is False
    assert ev("passed || missing.deep[3]") is True
    with pytest.raises(UnknownNameError):
        ev("true && missing_name")
    with pytest.raises(UnknownNameError):
        ev("missing_name && false")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('1 < "a"', "cannot compare int and str with '<'"),
        ('"a" >= 1', "cannot compare str and int"),
        ("true < 1", "cannot compare bool and int"),
        ("null < 1", "cannot compare null and int"),
        ("[1] < [2]", "cannot compare list and list"),
        ("user > 1", "cannot compare dict and int"),
        ("true + 1", "cannot apply '+' to bool and int"),
        ('"a" + 1', "cannot apply '+' to str and int"),
        ("[1] + 1", "cannot apply '+' to list and int"),
        ('"a" - "b"', "cannot apply '-' to str and str"),
        ('"ab" * 3', "cannot apply '*' to str and int"),
        ("tags * 2", "cannot apply '*' to list and int"),
        ("-name", "cannot apply unary '-' to str"),
        ("-true", "cannot apply unary '-' to bool"),
        ("1 / 0", "division by zero"),
        ("1 / 0.0", "division by zero"),
        ("1 % 0", "modulo by zero"),
        ('1 in "abc"', "cannot look for a int in a string"),
        ("1 in user", "cannot look for a int key in a dict"),
        ('"a" in 5', "cannot look for a value in a int"),
        ('"a" not in null', "cannot look for a value in a null"),
    ],
)
def test_type_errors(text: str, fragment: str) -> None:
    with pytest.raises(EvaluationError) as info:
        ev(text)
    assert fragment in str(info.value)


# -- functions -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("len(tags)", 2),
        ("len(name)", 5),
        ("len(user)", 2),
        ("len([])", 0),
        ("lower(name)", "alice"),
        ("upper('abc')", "ABC"),
        ("contains(name, 'lic')", True),
        ("contains(tags, 'red')", True),
        ("contains(user, 'zip')", False),
        ("startswith(name, 'Al')", True),
        ("endswith(name, 'Al')", False),
        ("int('42')", 42),
        ("int(' -7 ')", -7),
        ("int(3.9)", 3),
        ("int(-3.9)", -3),
        ("int(true)", 1),
        ("int(5)", 5),
        ("float('2.5')", 2.5),
        ("float(2)", 2.0),
        ("float(false)", 0.0),
        ("str(12)", "12"),
        ("str(1.5)", "1.5"),
        ("str(null)", "null"),
        ("str(true)", "true"),
        ("str('s')", "s"),
        ("str(tags)", '["red","green"]'),
        ("str(user)", '{"age":30,"name":"Bob"}'),
        ("abs(-3)", 3),
        ("abs(-2.5)", 2.5),
        ("min(3, 1, 2)", 1),
        ("max(nums)", 3),
        ("min(1, 2.5)", 1),
        ("max('a', 'b')", "b"),
        ("min([7])", 7),
        ("len(items) > 1 && lower(classify.label) == 'positive'", True),
    ],
)
def test_functions(text: str, expected: Any) -> None:
    value = ev(text)
    assert value == expected
    assert type(value) is type(expected)


def test_function_table_is_the_documented_one() -> None:
    assert set(FUNCTIONS) == {
        "len",
        "lower",
        "upper",
        "contains",
        "startswith",
        "endswith",
        "int",
        "float",
        "str",
        "abs",
        "min",
        "max",
    }


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("len(5)", "len() needs a string, list or dict, got int"),
        ("lower(5)", "lower() needs a string, got int"),
        ("upper(null)", "upper() needs a string, got null"),
        ("startswith(1, 'a')", "startswith() needs a string as first argument"),
        ("endswith('a', 1)", "endswith() needs a string as second argument"),
        ("contains(5, 1)", "cannot look for a value in a int"),
        ("int('abc')", "int() cannot convert 'abc'"),
        ("int('3.5')", "int() cannot convert"),
        ("int(null)", "int() needs a number, bool or string"),
        ("float('x')", "float() cannot convert 'x'"),
        ("float(tags)", "float() needs a number, bool or string"),
        ("float('nan')", "not a finite number"),
        ("float('inf')", "not a finite number"),
        ("abs('a')", "abs() needs a number"),
        ("abs(true)", "abs() needs a number"),
        ("min([])", "min() of an empty list"),
        ("max(1, 'a')", "max() needs all numbers or all strings, got int and str"),
        ("min(true, false)", "min() needs all numbers or all strings"),
    ],
)
def test_function_errors(text: str, fragment: str) -> None:
    with pytest.raises(EvaluationError) as info:
        ev(text)
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("len()", "len() takes exactly 1 argument (0 given)"),
        ("len(1, 2)", "len() takes exactly 1 argument (2 given)"),
        ("contains('a')", "contains() takes exactly 2 arguments (1 given)"),
        ("min()", "min() takes at least 1 argument (0 given)"),
        ("foo(1)", "unknown function 'foo'; allowed functions: abs, contains, endswith"),
        ("name.lower()", "method calls are not allowed ('.lower(...)')"),
        ("user.name.upper()", "method calls are not allowed ('.upper(...)')"),
        ("len(x)(1)", "only these functions can be called"),
        ("(len)(x)", "only these functions can be called"),
        ("len(1, 2", "expected ',' or ')' but found end of input"),
    ],
)
def test_call_syntax_errors(text: str, fragment: str) -> None:
    assert fragment in str(syntax_error(text))


# -- syntax errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message", "position"),
    [
        ("(1 + 2", "expected ')' but found end of input", 6),
        ("a = b", "unexpected token '='; did you mean '=='?", 2),
        ("a & b", "unexpected token '&'; did you mean '&&'?", 2),
        ("a | b", "unexpected token '|'; did you mean '||'?", 2),
        ('"abc', "unterminated string", 0),
        ("x == 'abc", "unterminated string", 5),
        ('"a\\', "unterminated string", 0),
        (r'"\q"', "invalid escape '\\q' in string", 1),
        ("a < b < c", "comparisons cannot be chained", 6),
        ("a == b != c", "comparisons cannot be chained", 7),
        ("a in b in c", "comparisons cannot be chained", 7),
        ("", "empty condition", 0),
        ("   ", "empty condition", 0),
        ("1 +", "expected an expression but found end of input", 3),
        ("a b", "unexpected 'b'; expected an operator", 2),
        ("a)", "unexpected ')'", 1),
        ("[1, 2", "expected ',' or ']' but found end of input", 5),
        ("[1 2]", "expected ',' or ']' but found '2'", 3),
        ("x #", "unexpected character '#'", 2),
        ("a ? b : c", "unexpected character '?'", 2),
        ("naïve", "unexpected character 'ï'", 2),
        ("9**9**9", "the '**' operator is not supported", 1),
        ("a not b", "unexpected 'not'; did you mean 'not in'?", 2),
        ("x == !y", "put the negation in parentheses", 5),
        ("3abc", "invalid number '3a'", 0),
        ("$", "expected a name after '$'", 0),
        ("$.a", "expected a name after '$'", 0),
        ("user.", "expected a name after '.' but found end of input", 5),
        ("user.'a'", "expected a name after '.'", 5),
        ('"abc".x', "is a literal: it has no members", 5),
        ("1[0]", "is a literal: it has no members", 1),
        ("123456789012345678901234567890", "is too large", 0),
        ("9223372036854775809", "is too large", 0),
        ("1e999", "is too large", 0),
        ("in", "expected an expression but found 'in'", 0),
    ],
)
def test_syntax_errors(text: str, message: str, position: int) -> None:
    error = syntax_error(text)
    assert message in str(error)
    assert error.position == position
    assert error.text == text
    assert str(error).endswith(f"at position {position}")


def test_check_condition() -> None:
    check_condition("score > 1")
    with pytest.raises(ConditionSyntaxError):
        check_condition("score >")


# -- API -----------------------------------------------------------------------------------------


def test_parse_is_cached_and_immutable() -> None:
    condition = parse_condition("score > 1")
    assert parse_condition("score > 1") is condition
    assert isinstance(condition, Condition)
    assert condition.text == "score > 1"
    with pytest.raises(dataclasses.FrozenInstanceError):
        condition.text = "other"  # type: ignore[misc]


def test_condition_names_and_paths() -> None:
    condition = parse_condition(
        "$order.total > 1 && classify.label in tags[0] || len(items[x].name) > step.one.result"
    )
    assert condition.names() == {"order", "classify", "tags", "items", "x", "step"}
    texts = [p.segments for p in condition.paths()]
    assert texts == [
        ("order", "total"),
        ("classify", "label"),
        ("tags", 0),
        ("items",),
        ("x",),
        ("step", "one", "result"),
    ]
    assert condition.paths()[-1].root_candidates()[0] == ("step.one.result", 3)
    assert parse_condition("1 + 2").names() == set()


def test_evaluate_condition_is_truthiness() -> None:
    scope = make_scope()
    assert evaluate_condition("tags", scope) is True
    assert evaluate_condition("empty", scope) is False
    assert evaluate_condition("nothing", scope) is False
    assert evaluate_condition("[]", scope) is False
    assert evaluate_condition("user", scope) is True
    assert evaluate_condition("0.0", scope) is False
    assert evaluate_condition("score - 85", scope) is False
    assert parse_condition("score").holds(scope) is True


def test_locals_are_visible() -> None:
    scope = make_scope().with_locals(item={"n": 3}, index=1)
    assert ev("item.n * index == 3", scope) is True


# -- limits and safety ---------------------------------------------------------------------------


def test_source_length_limit() -> None:
    text = "1 + " * (MAX_SOURCE_LENGTH // 4) + "1"
    error = syntax_error(text)
    assert "condition is too long" in str(error)
    assert ev(" " * (MAX_SOURCE_LENGTH - 1) + "1") == 1


def test_long_flat_chains_are_fine() -> None:
    text = " + ".join(["1"] * 2000)
    assert ev(text) == 2000
    assert ev(" && ".join(["true"] * 1000)) is True
    assert ev("[" + ", ".join(["1"] * 2000) + "]") == [1] * 2000


@pytest.mark.parametrize("opener", ["(", "!", "-", "[", "not ", "len(", "tags["])
def test_very_deep_nesting_fails_fast(opener: str) -> None:
    text = opener * (9_900 // len(opener)) + "1"
    started = time.perf_counter()
    error = syntax_error(text)
    assert time.perf_counter() - started < 1.0
    assert "nested too deeply" in str(error)


def test_nesting_at_the_limit() -> None:
    ok = "(" * (MAX_DEPTH - 1) + "1" + ")" * (MAX_DEPTH - 1)
    assert ev(ok) == 1
    too_deep = "(" * MAX_DEPTH + "1" + ")" * MAX_DEPTH
    assert "nested too deeply" in str(syntax_error(too_deep))
    # computed lookups nest too
    assert "nested too deeply" in str(syntax_error("nums" + "[0]" * 0 + "[x]" * 100))


def test_worst_case_nesting_needs_little_stack() -> None:
    """The deepest accepted expressions parse and evaluate within ~400 Python frames."""
    families = [
        "(X)",
        "-X",
        "!X",
        "[X][0]",
        "nums[X]",
        "x || y && x == y + x * -(X)",
        "x || (y && (x == (y + (x * (X)))))",
        "len([X]) + X",
    ]
    deepest: list[str] = []
    for family in families:
        text = "1"
        while True:
            candidate = family.replace("X", text)
            if len(candidate) > MAX_SOURCE_LENGTH:
                break
            try:
                parse_condition(candidate)
            except ConditionSyntaxError:
                break
            text = candidate
        deepest.append(text)
    parse_condition.cache_clear()
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(len(inspect.stack()) + 400)
    try:
        for text in deepest:
            with contextlib.suppress(ExpressionError):
                parse_condition(text).evaluate(make_scope())
    finally:
        sys.setrecursionlimit(old)


def test_integer_limits() -> None:
    assert ev("9223372036854775807 + 1") == 2**63
    with pytest.raises(EvaluationError, match="out of range"):
        ev("9223372036854775807 + 2")
    with pytest.raises(EvaluationError, match="out of range"):
        ev("big * 4")
    with pytest.raises(EvaluationError, match="out of range"):
        ev("abs(-9223372036854775808) + 1")
    with pytest.raises(EvaluationError, match="out of range"):
        ev("huge + 0", make_scope().with_locals(huge=10**400))
    with pytest.raises(EvaluationError, match="out of range"):
        ev("int(huge)", make_scope().with_locals(huge=1e300))
    # comparing a huge input is fine; only arithmetic is refused
    assert ev("huge > 1", make_scope().with_locals(huge=10**400)) is True


def test_float_limits() -> None:
    with pytest.raises(EvaluationError, match="not a finite number"):
        ev("1e308 * 10")
    with pytest.raises(EvaluationError, match="not a finite number"):
        ev("int(f)", make_scope().with_locals(f=float("inf")))
    assert ev("1e308 + 1e307") > 1e308


def test_string_and_list_growth_limits() -> None:
    assert ev("len(long + 'y')") == 60_001
    with pytest.raises(EvaluationError, match="the limit is 100000"):
        ev("long + long")
    many = make_scope().with_locals(many=list(range(60_000)))
    with pytest.raises(EvaluationError, match="the limit is 100000"):
        ev("many + many", many)
    with pytest.raises(EvaluationError, match="the limit is 100000"):
        ev("str(many + [1]) == ''", make_scope().with_locals(many=["abcdefgh"] * 50_000))
    with pytest.raises(EvaluationError, match="longer than 100 characters"):
        ev("int(s)", make_scope().with_locals(s="1" * 101))
    with pytest.raises(EvaluationError, match="longer than 100 characters"):
        ev("float(s)", make_scope().with_locals(s="1" * 101))
    with pytest.raises(EvaluationError, match="out of range"):
        ev("int(s)", make_scope().with_locals(s="1" * 100))
    assert ev("int(s)", make_scope().with_locals(s="0" * 99 + "7")) == 7


def test_deep_input_values_do_not_crash() -> None:
    deep: Any = []
    for _ in range(5000):
        deep = [deep]
    scope = make_scope().with_locals(deep=deep, deep2=deep)
    assert ev("deep == deep2", scope) is True
    assert ev("deep in [deep2]", scope) is True
    with pytest.raises(EvaluationError):
        ev("str(deep)", scope)


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os').system('id')",
        "().__class__.__bases__",
        "().__class__.__bases__[0].__subclasses__()",
        "x.__class__",
        "x.__class__.__mro__",
        "lambda: 1",
        'eval("1")',
        'exec("import os")',
        '"{0.__globals__}".format(x)',
        "open('/etc/passwd')",
        "getattr(x, '__class__')",
        "[c for c in ()]",
        "{'a': 1}",
        "import os",
        "x; y",
        "x if y else z",
        "a := 1",
        "len.__call__(x)",
        "user.__dict__",
        "user['__class__']",
        "name.__len__()",
        "tags.pop()",
        "`id`",
        "@x",
    ],
)
def test_python_tricks_are_rejected(text: str) -> None:
    with pytest.raises((ConditionSyntaxError, EvaluationError, UnknownNameError)):
        parse_condition(text).evaluate(make_scope())
