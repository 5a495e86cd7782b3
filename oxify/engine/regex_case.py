"""``regex:`` cases of Switch nodes, matched with limits.

Switch runs in the orchestration step (it is cheap and pure), so one workflow's pattern
must never stall an orchestrator: patterns are compiled with the ``regex`` module (the
syntax of ``re``), at most :data:`MAX_PATTERN` characters long, and each match may take
:data:`TIME_LIMIT` seconds on a value of at most :data:`MAX_SUBJECT` characters. A pattern
that backtracks catastrophically fails its node with an error that says so.
"""

from __future__ import annotations

from functools import lru_cache

import regex

from oxify.errors import NodeError

PREFIX = "regex:"
MAX_PATTERN = 1_000
"""Longest pattern (characters); validation refuses longer ones."""
MAX_SUBJECT = 100_000
"""Longest text a pattern is matched against (characters)."""
TIME_LIMIT = 0.1
"""Seconds one match may take."""


@lru_cache(maxsize=256)
def compile_case(pattern: str) -> regex.Pattern[str]:
    """A case's pattern, compiled once. Raises ``regex.error`` for a bad or too long one."""
    if len(pattern) > MAX_PATTERN:
        raise regex.error(f"pattern longer than {MAX_PATTERN} characters")
    return regex.compile(pattern)


def pattern_problem(pattern: str) -> str | None:
    """Why a pattern cannot be used (for validation), or None."""
    try:
        compile_case(pattern)
    except regex.error as e:
        return f"invalid regex: {e}"
    return None


def search(index: int, pattern: str, text: str) -> bool:
    """Whether case ``index``'s pattern occurs in ``text``; :class:`NodeError` (not
    retryable) for a bad pattern, a too long text, or a match past the time limit."""
    if len(text) > MAX_SUBJECT:
        raise NodeError(f"switch value is too long for a regex match ({len(text)} chars)")
    try:
        return compile_case(pattern).search(text, timeout=TIME_LIMIT) is not None
    except regex.error as e:
        raise NodeError(f"switch case {index} ({PREFIX}{pattern}): {e}") from None
    except TimeoutError:
        raise NodeError(
            f"switch case {index} ({PREFIX}{pattern}) ran past its time limit of "
            f"{TIME_LIMIT:g} s on a value of {len(text)} characters (the pattern backtracks "
            "catastrophically: simplify it)"
        ) from None
