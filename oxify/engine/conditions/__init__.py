"""The condition language of IfElse, Switch and While loops — small, safe, and our own.

Nothing is ever handed to Python's ``eval``, ``exec`` or ``ast``: a hand-written lexer and
parser build an immutable tree, and a small evaluator walks it.

Syntax (lowest precedence first)::

    a || b      a or b          short-circuit, result is a bool
    a && b      a and b         short-circuit, result is a bool
    !a          not a           a bool (binds more loosely than comparisons: !a == b is !(a == b))
    a == b  a != b  a < b  a <= b  a > b  a >= b  a in b  a not in b   (not chainable)
    a + b  a - b
    a * b  a / b  a % b
    -a  +a
    a.name  a["key"]  a[0]  a[-1]  a[expr]  f(x, ...)  (expr)

- Literals: ``12``, ``1.5``, ``1e3``, ``"text"`` / ``'text'`` (escapes ``\\" \\' \\\\ \\n \\t
  \\r``), ``true false null`` (also ``True False None``), lists ``[1, "a", x]``.
- Names: ``score``, ``user.age``, ``classify.label``, ``items[0].name`` — resolved through
  :meth:`Scope.resolve` (locals, node id, node name, ``node_<id>`` alias, inputs; dotted node
  names and the ``.output`` shorthand work as in templates). A bare identifier is
  ``[A-Za-z_][A-Za-z0-9_]*`` and never a keyword (``and or not in true false null``).
  ``$name.path`` (the Rust engine's shorthand) also allows digits first and inner dashes, so
  ``$node_1a2b...ff.user.age`` and ``$3f2c-aa01.score`` work; write spaces around a minus
  after a ``$`` name (``$count - 1``), since ``$count-1`` is one name.
- Functions (the only callables): ``len lower upper contains startswith endswith int float
  str abs min max``. Method calls (``x.lower()``) are rejected.
- Semantics: ``==`` is JSON equality (``1 == 1.0``, ``true != 1``); ordering compares two
  numbers or two strings only; ``+`` adds numbers or concatenates two strings or two lists;
  ``- * / %`` take numbers; ``in`` is substring / list membership / dict key. A bool is never
  a number. Errors raise ``EvaluationError``; unknown names raise ``UnknownNameError``.
- Limits: see :mod:`oxify.engine.conditions.limits`.
"""

from oxify.engine.conditions.condition import (
    Condition,
    check_condition,
    evaluate_condition,
    parse_condition,
)
from oxify.engine.conditions.functions import FUNCTIONS
from oxify.engine.conditions.limits import (
    MAX_CONVERT_LENGTH,
    MAX_DEPTH,
    MAX_HEIGHT,
    MAX_INT,
    MAX_SEQUENCE_LENGTH,
    MAX_SOURCE_LENGTH,
)

__all__ = [
    "FUNCTIONS",
    "MAX_CONVERT_LENGTH",
    "MAX_DEPTH",
    "MAX_HEIGHT",
    "MAX_INT",
    "MAX_SEQUENCE_LENGTH",
    "MAX_SOURCE_LENGTH",
    "Condition",
    "check_condition",
    "evaluate_condition",
    "parse_condition",
]
