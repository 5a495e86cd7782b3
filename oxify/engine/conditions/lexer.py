"""Tokenizer of the condition language (hand written; never uses Python's tokenizer or ast)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal, NoReturn

from oxify.engine.conditions.limits import MAX_INT
from oxify.errors import ConditionSyntaxError

TokenKind = Literal["num", "str", "lit", "name", "dollar", "op", "kw", "end"]
"""``num`` number, ``str`` string, ``lit`` true/false/null, ``name`` identifier, ``dollar``
``$name``, ``op`` operator or punctuation (``and``/``or`` become ``&&``/``||``), ``kw`` the
keywords ``not`` and ``in``, ``end`` the end of the text."""


@dataclass(frozen=True, slots=True)
class Token:
    """One token: its kind, value (number, string, keyword, operator text) and source span."""

    kind: TokenKind
    value: object
    pos: int
    end: int


_LITERALS: Final[dict[str, object]] = {
    "true": True,
    "false": False,
    "null": None,
    "True": True,
    "False": False,
    "None": None,
}
_WORD_OPS: Final = {"and": "&&", "or": "||"}
_KEYWORDS: Final = frozenset({"not", "in"})
_TWO_CHAR_OPS: Final = frozenset({"||", "&&", "==", "!=", "<=", ">="})
_ONE_CHAR_OPS: Final = frozenset("!<>+-*/%()[],.")
_HINTS: Final = {
    "=": "unexpected token '='; did you mean '=='?",
    "&": "unexpected token '&'; did you mean '&&'?",
    "|": "unexpected token '|'; did you mean '||'?",
}
_ESCAPES: Final = {'"': '"', "'": "'", "\\": "\\", "n": "\n", "t": "\t", "r": "\r"}
_MAX_INT_DIGITS: Final = len(str(MAX_INT))


def _digit(char: str) -> bool:
    return "0" <= char <= "9"


def _ident_start(char: str) -> bool:
    return char.isascii() and (char.isalpha() or char == "_")


def _ident_char(char: str) -> bool:
    return char.isascii() and (char.isalnum() or char == "_")


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens, ending with an ``end`` token; raise ConditionSyntaxError."""
    return _Lexer(text).run()


class _Lexer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[Token] = []

    def fail(self, message: str, position: int) -> NoReturn:
        raise ConditionSyntaxError(message, position, self.text)

    def run(self) -> list[Token]:
        text, n, i = self.text, len(self.text), 0
        while i < n:
            char = text[i]
            if char in " \t\r\n":
                i += 1
            elif _digit(char):
                i = self.number(i)
            elif char in "\"'":
                i = self.string(i)
            elif _ident_start(char):
                i = self.word(i)
            elif char == "$":
                i = self.dollar(i)
            elif text.startswith("**", i):
                self.fail("the '**' operator is not supported", i)
            elif text[i : i + 2] in _TWO_CHAR_OPS:
                self.tokens.append(Token("op", text[i : i + 2], i, i + 2))
                i += 2
            elif char in _ONE_CHAR_OPS:
                self.tokens.append(Token("op", char, i, i + 1))
                i += 1
            elif char in _HINTS:
                self.fail(_HINTS[char], i)
            else:
                shown = char if char.isprintable() else repr(char)[1:-1]
                self.fail(f"unexpected character '{shown}'", i)
        self.tokens.append(Token("end", None, n, n))
        return self.tokens

    def word(self, start: int) -> int:
        text, i = self.text, start + 1
        while i < len(text) and _ident_char(text[i]):
            i += 1
        word = text[start:i]
        if word in _LITERALS:
            self.tokens.append(Token("lit", _LITERALS[word], start, i))
        elif word in _WORD_OPS:
            self.tokens.append(Token("op", _WORD_OPS[word], start, i))
        elif word in _KEYWORDS:
            self.tokens.append(Token("kw", word, start, i))
        else:
            self.tokens.append(Token("name", word, start, i))
        return i

    def dollar(self, start: int) -> int:
        """``$name``: letters, digits, ``_`` and inner ``-`` (so UUIDs work); no trailing ``-``."""
        text, i = self.text, start + 1
        while i < len(text) and (_ident_char(text[i]) or text[i] == "-"):
            i += 1
        while i > start + 1 and text[i - 1] == "-":
            i -= 1
        if i == start + 1:
            self.fail("expected a name after '$'", start)
        self.tokens.append(Token("dollar", text[start + 1 : i], start, i))
        return i

    def number(self, start: int) -> int:
        text, n, i = self.text, len(self.text), start
        while i < n and _digit(text[i]):
            i += 1
        is_float = False
        if i + 1 < n and text[i] == "." and _digit(text[i + 1]):
            is_float = True
            i += 1
            while i < n and _digit(text[i]):
                i += 1
        if i < n and text[i] in "eE":
            j = i + 1
            if j < n and text[j] in "+-":
                j += 1
            if j < n and _digit(text[j]):
                is_float = True
                i = j
                while i < n and _digit(text[i]):
                    i += 1
        if i < n and _ident_char(text[i]):
            self.fail(f"invalid number '{text[start : i + 1]}'", start)
        literal = text[start:i]
        value: int | float
        if is_float:
            value = float(literal)
            if value == float("inf"):
                self.fail(f"number {literal[:30]} is too large", start)
        else:
            if len(literal.lstrip("0")) > _MAX_INT_DIGITS or int(literal) > MAX_INT:
                self.fail(f"integer {literal[:30]} is too large (the limit is 2**63)", start)
            value = int(literal)
        self.tokens.append(Token("num", value, start, i))
        return i

    def string(self, start: int) -> int:
        text, n = self.text, len(self.text)
        quote = text[start]
        chars: list[str] = []
        i = start + 1
        while True:
            if i >= n:
                self.fail("unterminated string", start)
            char = text[i]
            if char == quote:
                break
            if char == "\\":
                if i + 1 >= n:
                    self.fail("unterminated string", start)
                escaped = _ESCAPES.get(text[i + 1])
                if escaped is None:
                    self.fail(f"invalid escape '\\{text[i + 1]}' in string", i)
                chars.append(escaped)
                i += 2
            else:
                chars.append(char)
                i += 1
        self.tokens.append(Token("str", "".join(chars), start, i + 1))
        return i + 1
