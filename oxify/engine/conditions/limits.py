"""Hard limits of the condition language: every condition runs in bounded time and memory."""

from __future__ import annotations

from typing import Final

MAX_SOURCE_LENGTH: Final = 10_000
"""Longest condition text, in characters."""

MAX_DEPTH: Final = 64
"""Deepest nesting the parser accepts. Every nested sub-expression counts one level:
parentheses, prefix operators (``!``, ``not``, unary ``-``/``+``), list items, call arguments,
``[...]`` indexes, the operands of binary operators, and each computed ``[...]`` step applied to
something other than a plain name path. The whole condition is level 1."""

MAX_HEIGHT: Final = 256
"""Deepest syntax tree accepted (bounds the evaluator's recursion)."""

MAX_INT: Final = 2**63
"""Integer literals, integer operands of arithmetic and integer results must satisfy
``abs(x) <= MAX_INT``."""

MAX_SEQUENCE_LENGTH: Final = 100_000
"""Longest string or list an operator or function may produce (``+``, ``str()``)."""

MAX_CONVERT_LENGTH: Final = 100
"""Longest string ``int()`` / ``float()`` will convert."""
