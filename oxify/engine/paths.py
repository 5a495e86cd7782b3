"""Value paths: parse ``a.b[0].c`` and follow it into JSON values.

Syntax::

    path     := first ( "." name | "[" index "]" )*
    first    := name | "[" index "]"
    name     := any characters except  . [ ] { }   (surrounding whitespace is stripped)
    index    := integer (may be negative)  |  "quoted key"  |  'quoted key'

So ``Retrieve docs.results[0]``, ``items[-1]``, ``a["key with.dots"]`` and ``a['k']`` are all
paths. Inside quotes a backslash escapes the next character (``\\n``, ``\\t`` and ``\\r`` mean
newline, tab and carriage return). A syntax error raises :class:`~oxify.errors.EvaluationError`;
callers (templates, scope) re-raise it with their own context.

:func:`walk` follows a parsed path into nested dicts and lists and reports exactly what was
missing, e.g. ``'retrieve.results[5]': index 5 out of range (length 3)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final, NoReturn, TypeAlias

from oxify.errors import EvaluationError

Segment: TypeAlias = str | int
"""One step of a path: a ``str`` key or an ``int`` list index."""

MAX_INDEX_DIGITS: Final = 18
"""Longest accepted list index (in digits); longer ones are an error, never a huge int."""

_FORBIDDEN: Final = frozenset(".[]{}")
_ESCAPES: Final = {"n": "\n", "t": "\t", "r": "\r"}
_SHOWN_KEYS: Final = 10


@dataclass(frozen=True, slots=True)
class ParsedPath:
    """A parsed path plus how many leading segments were written as ``a.b.c`` (joinable).

    ``dotted`` matters for root lookup: a node named ``step.one`` is reached by the text
    ``step.one.result``, so the first ``dotted`` segments may be re-joined with ``.`` to form
    the root name (see :meth:`root_candidates`). Quoted keys and indexes are never joined.
    """

    segments: tuple[Segment, ...]
    dotted: int

    def root_candidates(self) -> list[tuple[str, int]]:
        """Possible root names, longest first, each with how many segments it consumes."""
        out: list[tuple[str, int]] = []
        for n in range(self.dotted, 0, -1):
            out.append((".".join(str(s) for s in self.segments[:n]), n))
        return out


@lru_cache(maxsize=2048)
def parse(text: str) -> ParsedPath:
    """Parse ``text`` into a :class:`ParsedPath`; raise ``EvaluationError`` on bad syntax."""
    segments: list[Segment] = []
    dotted = 0
    joinable = True
    need_name = True  # at the start or right after '.'
    i, n = 0, len(text)
    while True:
        j = i
        while j < n and text[j] not in _FORBIDDEN:
            j += 1
        name = text[i:j].strip()
        if name:
            if not need_name:
                _fail(text, f"expected '.' or '[' before '{name}'", i)
            segments.append(name)
            if joinable:
                dotted += 1
        elif need_name:
            starts_with_bracket = not segments and j < n and text[j] == "["
            if not starts_with_bracket:
                _fail(text, "empty path" if not text.strip() else "empty name", j)
        i = j
        if i >= n:
            break
        char = text[i]
        if char == ".":
            need_name = True
            i += 1
        elif char == "[":
            segment, i = _bracket(text, i)
            if not segments and isinstance(segment, str):
                dotted = 1  # a quoted root is still a root, but is never joined with more
            segments.append(segment)
            joinable = False
            need_name = False
        else:
            _fail(text, f"unexpected '{char}'", i)
    return ParsedPath(tuple(segments), dotted)


def parse_path(text: str) -> tuple[Segment, ...]:
    """Parse ``text`` (``a.b[0]["k"]``) into its segments; raise ``EvaluationError`` if bad."""
    return parse(text).segments


def _fail(text: str, problem: str, position: int) -> NoReturn:
    raise EvaluationError(f"invalid path '{text}': {problem} at position {position}")


def _bracket(text: str, start: int) -> tuple[Segment, int]:
    """Parse ``[ ... ]`` at ``start``; return the segment and the offset after ``]``."""
    n = len(text)
    i = _skip_space(text, start + 1)
    if i < n and text[i] in "\"'":
        quote = text[i]
        chars: list[str] = []
        i += 1
        while True:
            if i >= n:
                _fail(text, "unterminated quoted key", start)
            char = text[i]
            if char == "\\" and i + 1 < n:
                chars.append(_ESCAPES.get(text[i + 1], text[i + 1]))
                i += 2
            elif char == quote:
                i += 1
                break
            else:
                chars.append(char)
                i += 1
        i = _skip_space(text, i)
        if i >= n or text[i] != "]":
            _fail(text, "expected ']' after the quoted key", i)
        return "".join(chars), i + 1
    close = text.find("]", i)
    if close < 0:
        _fail(text, "expected ']'", n)
    raw = text[i:close].strip()
    digits = raw[1:] if raw.startswith("-") else raw
    if not (digits.isascii() and digits.isdigit()):
        _fail(text, f"expected an integer index or a quoted key inside [...], got '{raw}'", i)
    if len(digits) > MAX_INDEX_DIGITS:
        _fail(text, "index is too large", i)
    return int(raw), close + 1


def _skip_space(text: str, i: int) -> int:
    while i < len(text) and text[i].isspace():
        i += 1
    return i


def _is_plain(key: str) -> bool:
    return bool(key) and key == key.strip() and not any(c in _FORBIDDEN for c in key)


def _quote(key: str) -> str:
    escaped = key.replace("\\", "\\\\").replace('"', '\\"')
    escaped = escaped.replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")
    return f'"{escaped}"'


def format_path(segments: Sequence[Segment], *, prefix: str = "") -> str:
    """Render segments back to path text (``a.b[0]["x.y"]``), appended to ``prefix``."""
    out = [prefix]
    for segment in segments:
        if isinstance(segment, int):
            out.append(f"[{segment}]")
        elif _is_plain(segment):
            out.append(f".{segment}" if len(out) > 1 or prefix else segment)
        else:
            out.append(f"[{_quote(segment)}]")
    return "".join(out)


def type_name(value: Any) -> str:
    """A short JSON-minded type name for messages: null, bool, int, float, str, list, dict."""
    if value is None:
        return "null"
    for kind in (bool, int, float, str):
        if isinstance(value, kind):
            return kind.__name__
    if isinstance(value, Mapping):
        return "dict"
    if isinstance(value, list | tuple):
        return "list"
    return type(value).__name__


def walk(value: Any, segments: Sequence[Segment], *, where: str) -> Any:
    """Follow ``segments`` from ``value``: str keys into dicts, ints into lists.

    A str key made only of digits also indexes a list (``items.0``); an int also finds the
    same key as text in a dict. ``where`` is the text of the path up to ``value`` (the root's
    name), used in messages. Anything missing raises ``EvaluationError`` naming the path.
    """
    current = value
    for k, segment in enumerate(segments):
        if isinstance(current, Mapping):
            if segment in current:
                current = current[segment]
            elif isinstance(segment, int) and str(segment) in current:
                current = current[str(segment)]
            else:
                raise _walk_error(where, segments, k, f"no {_show(segment)}{_keys(current)}")
        elif isinstance(current, list | tuple):
            index = _as_index(segment)
            if index is None:
                problem = f"{_show(segment)} is not a list index (the value is a list)"
                raise _walk_error(where, segments, k, problem)
            if not -len(current) <= index < len(current):
                problem = f"index {index} out of range (length {len(current)})"
                raise _walk_error(where, segments, k, problem)
            current = current[index]
        else:
            problem = f"cannot look up {_show(segment)} in a {type_name(current)} value"
            raise _walk_error(where, segments, k, problem)
    return current


def _as_index(segment: Segment) -> int | None:
    if isinstance(segment, bool):
        return None
    if isinstance(segment, int):
        return segment
    if segment.isascii() and segment.isdigit() and len(segment) <= MAX_INDEX_DIGITS:
        return int(segment)
    return None


def _show(segment: Segment) -> str:
    return f"index {segment}" if isinstance(segment, int) else f"key '{segment}'"


def _keys(mapping: Mapping[Any, Any]) -> str:
    keys = [str(key) for key in list(mapping)[: _SHOWN_KEYS + 1]]
    if not keys:
        return " (the dict is empty)"
    more = ", ..." if len(keys) > _SHOWN_KEYS else ""
    return f" (keys: {', '.join(keys[:_SHOWN_KEYS])}{more})"


def _walk_error(where: str, segments: Sequence[Segment], k: int, problem: str) -> EvaluationError:
    full = format_path(segments, prefix=where)
    if k < len(segments) - 1:
        problem += f" at '{format_path(segments[: k + 1], prefix=where)}'"
    return EvaluationError(f"'{full}': {problem}")
