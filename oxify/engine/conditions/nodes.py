"""The syntax tree of a condition: immutable dataclasses, each knowing its own height."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeAlias

from oxify.engine.paths import ParsedPath


def _height(node: object, *children: Expr) -> None:
    object.__setattr__(node, "height", 1 + max((c.height for c in children), default=0))


@dataclass(frozen=True, slots=True)
class Literal:
    """A number, string, ``true``/``false`` or ``null``."""

    value: Any
    height: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _height(self)


@dataclass(frozen=True, slots=True)
class ListExpr:
    """A list literal ``[a, b, ...]``."""

    items: tuple[Expr, ...]
    height: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _height(self, *self.items)


@dataclass(frozen=True, slots=True)
class Ref:
    """A name with a static path (``user.age``, ``$order.total``, ``items[0].name``).

    Resolved in one go by :meth:`Scope.resolve`, so dotted node names and the ``.output``
    shorthand work exactly as in templates.
    """

    path: ParsedPath
    height: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _height(self)


@dataclass(frozen=True, slots=True)
class Index:
    """A computed lookup ``target[key]`` (or ``.key`` on something that is not a name)."""

    target: Expr
    key: Expr
    where: str  # source text of ``target``, for messages
    height: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _height(self, self.target, self.key)


@dataclass(frozen=True, slots=True)
class Not:
    """``!x`` / ``not x``: a bool."""

    operand: Expr
    height: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _height(self, self.operand)


@dataclass(frozen=True, slots=True)
class Unary:
    """Unary ``-x`` or ``+x`` (numbers only)."""

    op: str
    operand: Expr
    height: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _height(self, self.operand)


@dataclass(frozen=True, slots=True)
class BoolOp:
    """``a && b && ...`` or ``a || b || ...`` (short-circuit, result is a bool)."""

    op: str
    operands: tuple[Expr, ...]
    height: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _height(self, *self.operands)


@dataclass(frozen=True, slots=True)
class Arith:
    """A left-to-right chain of one precedence level: ``a + b - c`` or ``a * b / c % d``."""

    first: Expr
    rest: tuple[tuple[str, Expr], ...]
    height: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _height(self, self.first, *(operand for _, operand in self.rest))


@dataclass(frozen=True, slots=True)
class Compare:
    """``a OP b`` with OP one of ``== != < <= > >= in`` and ``not in``."""

    op: str
    left: Expr
    right: Expr
    height: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _height(self, self.left, self.right)


@dataclass(frozen=True, slots=True)
class Call:
    """A call of one of the allow-listed functions."""

    name: str
    args: tuple[Expr, ...]
    height: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _height(self, *self.args)


Expr: TypeAlias = Literal | ListExpr | Ref | Index | Not | Unary | BoolOp | Arith | Compare | Call
"""Any node of the tree."""


def children(expr: Expr) -> tuple[Expr, ...]:
    """The direct sub-expressions of ``expr``."""
    if isinstance(expr, ListExpr):
        return expr.items
    if isinstance(expr, Index):
        return (expr.target, expr.key)
    if isinstance(expr, Not | Unary):
        return (expr.operand,)
    if isinstance(expr, BoolOp):
        return expr.operands
    if isinstance(expr, Arith):
        return (expr.first, *(operand for _, operand in expr.rest))
    if isinstance(expr, Compare):
        return (expr.left, expr.right)
    if isinstance(expr, Call):
        return expr.args
    return ()
