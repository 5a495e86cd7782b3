"""Value paths: parsing (keys, indexes, quotes, dotted roots) and walking with clear errors."""

from __future__ import annotations

import pytest

from oxify.engine.paths import (
    ParsedPath,
    format_path,
    parse,
    parse_path,
    type_name,
    walk,
)
from oxify.errors import EvaluationError, TemplateSyntaxError


@pytest.mark.parametrize(
    ("text", "segments"),
    [
        ("a", ("a",)),
        ("a.b[0].c", ("a", "b", 0, "c")),
        ("items[2]", ("items", 2)),
        ("items[-1]", ("items", -1)),
        ('a["key with.dots"]', ("a", "key with.dots")),
        ("a['k']", ("a", "k")),
        ("Retrieve docs.results", ("Retrieve docs", "results")),
        ("  Retrieve docs . results [ 0 ] ", ("Retrieve docs", "results", 0)),
        ("3f2c-aa01-ff.user", ("3f2c-aa01-ff", "user")),
        ("items.0.name", ("items", "0", "name")),
        ('a["say \\"hi\\""]', ("a", 'say "hi"')),
        ("a['it\\'s']", ("a", "it's")),
        ('a["line\\nbreak\\ttab\\\\"]', ("a", "line\nbreak\ttab\\")),
        ('["x.y"].z', ("x.y", "z")),
        ("a[0][1]", ("a", 0, 1)),
        ("a [ 'b' ] . c", ("a", "b", "c")),
        ("it's $weird (but) ok", ("it's $weird (but) ok",)),
    ],
)
def test_parse_path(text: str, segments: tuple[object, ...]) -> None:
    assert parse_path(text) == segments


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty path"),
        ("   ", "empty path"),
        ("a..b", "empty name"),
        ("a.", "empty name"),
        (".a", "empty name"),
        ("a.[0]", "empty name"),
        ("a[", "expected ']'"),
        ("a[x]", "expected an integer index or a quoted key"),
        ("a[1.5]", "expected an integer index or a quoted key"),
        ("a[]", "expected an integer index or a quoted key"),
        ('a["x', "unterminated quoted key"),
        ('a["x" y]', "expected ']' after the quoted key"),
        ("a]", "unexpected ']'"),
        ("a{b}", "unexpected '{'"),
        ("a[0]b", "expected '.' or '[' before 'b'"),
        ("a[" + "9" * 40 + "]", "index is too large"),
    ],
)
def test_parse_path_errors_are_evaluation_errors(text: str, fragment: str) -> None:
    with pytest.raises(EvaluationError) as info:
        parse_path(text)
    assert fragment in str(info.value)
    assert "position" in str(info.value)
    assert not isinstance(info.value, TemplateSyntaxError)


def test_dotted_prefix_and_root_candidates() -> None:
    assert parse("step.one.result") == ParsedPath(("step", "one", "result"), 3)
    assert parse("step.one.result").root_candidates() == [
        ("step.one.result", 3),
        ("step.one", 2),
        ("step", 1),
    ]
    # quoted keys and indexes stop the joinable prefix
    assert parse('a.b["c"].d').dotted == 2
    assert parse("a[0].b").dotted == 1
    # a quoted root is a root, never joined with what follows
    assert parse('["x.y"].z').root_candidates() == [("x.y", 1)]
    assert parse("[0].z").root_candidates() == []


def test_format_path_round_trips() -> None:
    for text in ["a.b[0].c", 'a["key with.dots"]', "items[-1]", 'a["x\\"y"].b', "Retrieve docs.n"]:
        assert parse_path(format_path(parse_path(text))) == parse_path(text)
    assert format_path(["a", 0, "b c", "x.y"]) == 'a[0].b c["x.y"]'
    assert format_path([0, "a"], prefix="root") == "root[0].a"
    assert format_path(["a"], prefix="root") == "root.a"


def test_walk_follows_keys_and_indexes() -> None:
    value = {"results": [{"title": "x"}, {"title": "y"}], "meta": {"1": "one"}}
    assert walk(value, ("results", 1, "title"), where="r") == "y"
    assert walk(value, ("results", -1, "title"), where="r") == "y"
    assert walk(value, ("results", "0", "title"), where="r") == "x"  # digit key into a list
    assert walk(value, ("meta", 1), where="r") == "one"  # int finds the same key as text
    assert walk(value, (), where="r") is value
    assert walk((1, 2), (1,), where="t") == 2


def test_walk_index_out_of_range_message() -> None:
    with pytest.raises(EvaluationError) as info:
        walk({"results": [1, 2, 3]}, ("results", 5), where="retrieve")
    assert str(info.value) == "'retrieve.results[5]': index 5 out of range (length 3)"


def test_walk_error_names_full_path_and_failing_prefix() -> None:
    with pytest.raises(EvaluationError) as info:
        walk({"results": [1]}, ("results", 3, "title"), where="retrieve")
    message = str(info.value)
    assert message.startswith("'retrieve.results[3].title': index 3 out of range (length 1)")
    assert "at 'retrieve.results[3]'" in message


def test_walk_missing_key_lists_keys() -> None:
    with pytest.raises(EvaluationError) as info:
        walk({"user": {"name": "a", "age": 3}}, ("user", "email"), where="inputs")
    assert str(info.value) == "'inputs.user.email': no key 'email' (keys: name, age)"
    with pytest.raises(EvaluationError, match="the dict is empty"):
        walk({}, ("x",), where="r")
    many = {f"k{i}": i for i in range(30)}
    with pytest.raises(EvaluationError, match=r"k9, \.\.\.\)"):
        walk(many, ("zz",), where="r")


@pytest.mark.parametrize(
    ("value", "segments", "fragment"),
    [
        ([1, 2], ("name",), "key 'name' is not a list index (the value is a list)"),
        ("text", ("x",), "cannot look up key 'x' in a str value"),
        (None, (0,), "cannot look up index 0 in a null value"),
        (5, ("a",), "cannot look up key 'a' in a int value"),
        ([1], (-2,), "index -2 out of range (length 1)"),
        ([1], ("9" * 30,), "is not a list index"),
    ],
)
def test_walk_type_mismatch(value: object, segments: tuple[str | int, ...], fragment: str) -> None:
    with pytest.raises(EvaluationError) as info:
        walk(value, segments, where="v")
    assert fragment in str(info.value)


def test_type_name() -> None:
    values: list[object] = [None, True, 1, 1.5, "s", [], (), {}]
    assert [type_name(v) for v in values] == [
        "null",
        "bool",
        "int",
        "float",
        "str",
        "list",
        "list",
        "dict",
    ]
