"""``{{ path }}`` templates: resolve placeholders against a :class:`~oxify.engine.scope.Scope`.

- A placeholder holds one path (see :mod:`oxify.engine.paths`): ``{{ question }}``,
  ``{{ retrieve.results[0].text }}``, ``{{ Retrieve docs.count }}``. Whitespace inside the
  braces is ignored. There are no filters and nothing is ever evaluated:
  ``{{ ''.__class__ }}`` is just a name that does not exist.
- A template that is exactly one placeholder (``"{{ items }}"``, no text around it, not even
  spaces) returns the value with its JSON type: a list stays a list, ``null`` stays ``None``.
- Otherwise placeholders are interpolated: strings raw, ``None`` as ``null``, booleans as
  ``true``/``false``, numbers as JSON numbers, lists and dicts as compact JSON.
- Escaping: ``\\{{`` renders a literal ``{{`` (the backslash is dropped and the text after it
  is not a placeholder). A backslash anywhere else is kept as is.
- ``{{`` without a closing ``}}`` and an empty ``{{ }}`` are :class:`TemplateSyntaxError`
  with the 0-based position of the ``{{``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from oxify.engine.paths import ParsedPath, parse
from oxify.engine.scope import Scope
from oxify.errors import EvaluationError, TemplateSyntaxError

__all__ = ["check_syntax", "references", "render", "render_value", "to_text"]


@dataclass(frozen=True, slots=True)
class _Placeholder:
    text: str  # the path text, trimmed
    path: ParsedPath
    position: int  # offset of the opening '{{'


_Part = str | _Placeholder


@lru_cache(maxsize=1024)
def _compile(template: str) -> tuple[_Part, ...]:
    """Split a template into literal text and placeholders (cached)."""
    parts: list[_Part] = []
    text: list[str] = []
    i, n = 0, len(template)
    while i < n:
        start = template.find("{{", i)
        if start < 0:
            text.append(template[i:])
            break
        if start > 0 and template[start - 1] == "\\":
            text.append(template[i : start - 1] + "{{")
            i = start + 2
            continue
        text.append(template[i:start])
        end = template.find("}}", start + 2)
        if end < 0:
            raise TemplateSyntaxError(f"unclosed '{{{{' at position {start}: expected '}}}}'")
        inner = template[start + 2 : end].strip()
        if not inner:
            raise TemplateSyntaxError(f"empty placeholder '{{{{ }}}}' at position {start}")
        try:
            path = parse(inner)
        except EvaluationError as e:
            raise TemplateSyntaxError(
                f"bad placeholder '{{{{{inner}}}}}' at position {start}: {e}"
            ) from e
        if text:
            joined = "".join(text)
            if joined:
                parts.append(joined)
            text = []
        parts.append(_Placeholder(inner, path, start))
        i = end + 2
    joined = "".join(text)
    if joined:
        parts.append(joined)
    return tuple(parts)


def check_syntax(template: str) -> None:
    """Raise :class:`TemplateSyntaxError` if ``template`` is malformed; do nothing otherwise."""
    _compile(template)


def references(template: str) -> list[str]:
    """The path text of every placeholder, in order (``["question", "retrieve.results"]``)."""
    return [part.text for part in _compile(template) if isinstance(part, _Placeholder)]


def render(template: str, scope: Scope) -> Any:
    """Render ``template``; a template that is exactly one placeholder keeps the value's type."""
    parts = _compile(template)
    if len(parts) == 1 and isinstance(parts[0], _Placeholder):
        return _resolve(parts[0], scope)
    if not any(isinstance(part, _Placeholder) for part in parts):
        return "".join(part for part in parts if isinstance(part, str))
    out: list[str] = []
    for part in parts:
        out.append(part if isinstance(part, str) else to_text(_resolve(part, scope)))
    return "".join(out)


def render_value(value: Any, scope: Scope) -> Any:
    """Render every string inside ``value`` (dicts and lists, recursively; keys unchanged)."""
    if isinstance(value, str):
        return render(value, scope)
    if isinstance(value, Mapping):
        return {key: render_value(item, scope) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [render_value(item, scope) for item in value]
    return value


def to_text(value: Any) -> str:
    """How a value is interpolated: strings raw, ``null``, ``true``/``false``, JSON otherwise."""
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    except (ValueError, RecursionError) as e:
        raise EvaluationError(f"cannot convert a {type(value).__name__} to text: {e}") from e


def _resolve(placeholder: _Placeholder, scope: Scope) -> Any:
    try:
        return scope.resolve(placeholder.path)
    except EvaluationError as e:
        where = f" in node '{scope.node}'" if scope.node is not None else ""
        raise EvaluationError(f"template '{{{{{placeholder.text}}}}}'{where}: {e}") from e
