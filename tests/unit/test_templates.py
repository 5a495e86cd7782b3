"""Scope name resolution and ``{{...}}`` templates."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from oxify.engine.paths import ParsedPath
from oxify.engine.scope import AMBIGUOUS, Scope, index_names
from oxify.engine.templates import check_syntax, references, render, render_value, to_text
from oxify.errors import EvaluationError, TemplateSyntaxError, UnknownNameError

RETRIEVE_ID = "1a2b-3c4d"


def make_scope(**locals_: Any) -> Scope:
    return Scope(
        inputs={
            "question": "why?",
            "count": 3,
            "ratio": 0.5,
            "flag": True,
            "nothing": None,
            "tags": ["a", "b"],
            "user": {"name": "Ann", "age": 41},
            "shadowed": "input",
            "retrieve": "input named like a node",
        },
        outputs={
            RETRIEVE_ID: {"results": [{"text": "t0"}, {"text": "t1"}], "count": 2},
            "n-wrapped": {"output": {"inner": 1}, "other": 2},
            "n-step": {"result": "dotted"},
            "n-a": {"v": 1},
            "n-b": {"v": 2},
            "n-text": "plain text output",
        },
        names={
            "retrieve": RETRIEVE_ID,
            "Retrieve docs": RETRIEVE_ID,
            "wrapped": "n-wrapped",
            "step.one": "n-step",
            "twin": AMBIGUOUS,
            "later": "n-not-run",
            "text node": "n-text",
        },
        locals=locals_ or None,
        node="Answer",
    )


# -- scope ---------------------------------------------------------------------------------------


def test_inputs_and_paths() -> None:
    scope = make_scope()
    assert scope.resolve("question") == "why?"
    assert scope.resolve("user.name") == "Ann"
    assert scope.resolve("tags[-1]") == "b"
    assert scope.resolve(("user", "age")) == 41
    assert scope.resolve(ParsedPath(("tags", 0), 1)) == "a"


def test_lookup_order_locals_then_id_then_name_then_inputs() -> None:
    scope = make_scope()
    # a node name beats an input of the same name
    assert scope.resolve("retrieve.count") == 2
    # a node id works directly
    assert scope.resolve(f"{RETRIEVE_ID}.count") == 2
    # locals shadow everything
    local = scope.with_locals(retrieve={"count": 99}, shadowed="local")
    assert local.resolve("retrieve.count") == 99
    assert local.resolve("shadowed") == "local"
    assert scope.resolve("shadowed") == "input"  # the original scope is unchanged


def test_node_id_beats_a_name_that_equals_another_id() -> None:
    scope = Scope({}, {"a": 1, "b": 2}, {"a": "b"})
    assert scope.resolve("a") == 1


def test_with_locals_mapping_and_keywords() -> None:
    scope = make_scope().with_locals({"item-x": 1}, index=2)
    assert scope.resolve("item-x") == 1
    assert scope.resolve("index") == 2
    assert scope.with_locals(index=3).resolve("index") == 3
    assert scope.locals == {"item-x": 1, "index": 2}
    assert scope.node == "Answer"


def test_names_with_spaces_and_node_alias() -> None:
    scope = make_scope()
    assert scope.resolve("Retrieve docs.results[1].text") == "t1"
    assert scope.resolve("node_1a2b_3c4d.count") == 2
    assert scope.knows("node_1a2b_3c4d")
    assert "node_1a2b_3c4d" not in scope.known_roots()


def test_dotted_node_name_longest_prefix_wins() -> None:
    scope = make_scope()
    assert scope.resolve("step.one.result") == "dotted"
    assert scope.resolve("step.one") == {"result": "dotted"}
    # raw segments are never joined
    with pytest.raises(UnknownNameError):
        scope.resolve(("step", "one", "result"))


def test_output_segment_is_skipped_unless_real() -> None:
    scope = make_scope()
    assert scope.resolve("retrieve.output.count") == scope.resolve("retrieve.count") == 2
    assert scope.resolve("retrieve.output") == scope.resolve("retrieve")
    assert scope.resolve("text node.output") == "plain text output"
    # the output really has an "output" key: it is followed, not skipped
    assert scope.resolve("wrapped.output.inner") == 1
    with pytest.raises(EvaluationError, match="no key 'other'"):
        scope.resolve("wrapped.output.other")
    # only for node roots, not inputs or locals
    with pytest.raises(EvaluationError, match="no key 'output'"):
        scope.resolve("user.output.name")


def test_unknown_name_message_and_suggestion() -> None:
    scope = make_scope()
    with pytest.raises(UnknownNameError) as info:
        scope.resolve("questoin")
    assert info.value.name == "questoin"
    assert str(info.value) == (
        "unknown name 'questoin' in node 'Answer': not a workflow input or an upstream node "
        "(did you mean 'question'?)"
    )
    with pytest.raises(UnknownNameError) as info:
        Scope({}, {}, {}).resolve("zzz.a")
    assert str(info.value) == "unknown name 'zzz': not a workflow input or an upstream node"


def test_ambiguous_name() -> None:
    with pytest.raises(UnknownNameError) as info:
        make_scope().resolve("twin.v")
    assert info.value.name == "twin"
    assert "name 'twin'" in str(info.value)
    assert "is ambiguous" in str(info.value)
    assert "use the node id" in str(info.value)
    assert make_scope().resolve("n-a.v") == 1


def test_index_names_marks_shared_names() -> None:
    names = index_names([("a", "1"), ("b", "2"), ("a", "3"), ("c", "4"), ("c", "4")])
    assert names == {"a": AMBIGUOUS, "b": "2", "c": "4"}


def test_name_of_a_node_without_visible_output() -> None:
    with pytest.raises(UnknownNameError) as info:
        make_scope().resolve("later.x")
    assert "node 'later' has no output visible in node 'Answer'" in str(info.value)


def test_invisible_node_name_falls_through_to_inputs() -> None:
    scope = Scope({"later": "input", "step": {"one": 1}}, {}, {"later": "n9", "step.one": "n8"})
    assert scope.resolve("later") == "input"
    assert scope.resolve("step.one") == 1
    assert not Scope({}, {}, {"later": "n9"}).knows("later")
    assert "later" not in Scope({}, {}, {"later": "n9"}).known_roots()


def test_outputs_are_read_once_per_lookup() -> None:
    reads: list[str] = []

    class CountingOutputs(Mapping[str, Any]):
        """Like a store view that copies each output when it is read."""

        def __init__(self, data: dict[str, Any]) -> None:
            self._data = data

        def __getitem__(self, key: str) -> Any:
            value = dict(self._data[key])
            reads.append(key)  # a successful (copying) read
            return value

        def __iter__(self) -> Iterator[str]:
            return iter(self._data)

        def __len__(self) -> int:
            return len(self._data)

    scope = Scope({}, CountingOutputs({"n1": {"a": 1}}), {"first": "n1"})
    assert scope.resolve("first.a") == 1
    assert reads == ["n1"]
    assert scope.with_locals(x=1).resolve("node_n1.a") == 1


def test_walk_errors_below_the_root() -> None:
    with pytest.raises(EvaluationError) as info:
        make_scope().resolve("retrieve.results[5]")
    assert str(info.value) == "'retrieve.results[5]': index 5 out of range (length 2)"
    with pytest.raises(EvaluationError, match="invalid path"):
        make_scope().resolve("a..b")


def test_known_roots_and_repr() -> None:
    roots = make_scope(item=1).known_roots()
    assert roots == sorted(roots)
    assert {"item", "question", "retrieve", RETRIEVE_ID, "step.one", "twin"} <= set(roots)
    assert "Answer" in repr(make_scope())


# -- templates -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{count}}", 3),
        ("{{ ratio }}", 0.5),
        ("{{flag}}", True),
        ("{{nothing}}", None),
        ("{{tags}}", ["a", "b"]),
        ("{{ user }}", {"name": "Ann", "age": 41}),
        ("{{  retrieve.results[0]  }}", {"text": "t0"}),
        ("{{question}}", "why?"),
    ],
)
def test_single_placeholder_keeps_json_type(template: str, expected: Any) -> None:
    assert render(template, make_scope()) == expected


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("Q: {{question}}", "Q: why?"),
        ("n={{count}}", "n=3"),
        ("r={{ratio}}", "r=0.5"),
        ("{{flag}}/{{nothing}}", "true/null"),
        ("tags={{tags}}", 'tags=["a","b"]'),
        ("u={{user}}", 'u={"name":"Ann","age":41}'),
        (" {{count}}", " 3"),  # surrounding text (even a space) means interpolation
        ("{{count}} ", "3 "),
        ("{{ retrieve.output.results[1].text }}!", "t1!"),
    ],
)
def test_interpolation_formats_each_type(template: str, expected: str) -> None:
    assert render(template, make_scope()) == expected


def test_interpolation_keeps_unicode() -> None:
    scope = Scope({"d": {"k": "héllo ✓"}, "s": "ünï"}, {}, {})
    assert render("{{d}} {{s}}", scope) == '{"k":"héllo ✓"} ünï'


def test_text_without_placeholders_is_unchanged() -> None:
    for text in ["", "plain", "a } b }} c", "{ single }", "back\\slash"]:
        assert render(text, make_scope()) == text


def test_escaped_braces() -> None:
    assert render("\\{{question}}", make_scope()) == "{{question}}"
    assert render("lit \\{{x}} and {{count}}", make_scope()) == "lit {{x}} and 3"
    assert references("\\{{x}} {{count}}") == ["count"]


def test_missing_name_names_name_and_node() -> None:
    with pytest.raises(UnknownNameError) as info:
        render("Hello {{ nam }}", make_scope())
    assert "'nam'" in str(info.value)
    assert "node 'Answer'" in str(info.value)


def test_path_error_names_placeholder_and_node() -> None:
    with pytest.raises(EvaluationError) as info:
        render("x {{ retrieve.results[5].text }}", make_scope())
    assert str(info.value) == (
        "template '{{retrieve.results[5].text}}' in node 'Answer': "
        "'retrieve.results[5].text': index 5 out of range (length 2) at 'retrieve.results[5]'"
    )


def test_python_looking_placeholders_are_just_names() -> None:
    for template in ["{{ ''.__class__ }}", "{{ __import__('os') }}", "{{ ().__class__ }}"]:
        with pytest.raises(UnknownNameError):
            render(template, make_scope())
    with pytest.raises(EvaluationError, match="no key '__class__'"):
        render("{{ user.__class__ }}", make_scope())
    with pytest.raises(TemplateSyntaxError):
        render("{{ {}.__class__ }}", make_scope())


@pytest.mark.parametrize(
    ("template", "fragment"),
    [
        ("Hello {{ name", "unclosed '{{' at position 6"),
        ("{{", "unclosed '{{' at position 0"),
        ("ok {{ }} x", "empty placeholder '{{ }}' at position 3"),
        ("{{}}", "empty placeholder"),
        ("a {{ x..y }}", "bad placeholder '{{x..y}}' at position 2"),
        ("{{ a[b] }}", "expected an integer index or a quoted key"),
        ("{{{x}}}", "bad placeholder"),
    ],
)
def test_syntax_errors_have_positions(template: str, fragment: str) -> None:
    with pytest.raises(TemplateSyntaxError) as info:
        render(template, make_scope())
    assert fragment in str(info.value)
    with pytest.raises(TemplateSyntaxError):
        check_syntax(template)
    with pytest.raises(TemplateSyntaxError):
        references(template)


def test_references_and_check_syntax() -> None:
    assert references("{{ a }} and {{b.c[0]}} and {{ a }}") == ["a", "b.c[0]", "a"]
    assert references("no placeholders") == []
    assert references("{{ Retrieve docs.results }}") == ["Retrieve docs.results"]
    check_syntax("fine {{ x }}")


def test_render_value_recurses_and_keeps_keys() -> None:
    value = {
        "{{question}}": "{{question}}",
        "list": ["{{count}}", "n={{count}}", 7, None, {"deep": ["{{tags}}"]}],
        "tuple": ("{{flag}}",),
        "num": 1.5,
    }
    assert render_value(value, make_scope()) == {
        "{{question}}": "why?",
        "list": [3, "n=3", 7, None, {"deep": [["a", "b"]]}],
        "tuple": [True],
        "num": 1.5,
    }
    assert render_value("{{count}}", make_scope()) == 3


def test_to_text() -> None:
    assert to_text("s") == "s"
    assert to_text(None) == "null"
    assert to_text(False) == "false"
    assert to_text(10) == "10"
    assert to_text(1e20) == "1e+20"
    assert to_text([1, {"a": None}]) == '[1,{"a":null}]'
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(EvaluationError):
        to_text(loop)
