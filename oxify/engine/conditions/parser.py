"""Recursive-descent (Pratt) parser: tokens → an immutable syntax tree.

Precedence, lowest first: ``||``/``or``; ``&&``/``and``; prefix ``!``/``not``; comparisons
``== != < <= > >= in``, ``not in`` (not chainable); ``+ -``; ``* / %``; unary ``- +``; postfix
``.name``, ``[key]`` and function calls. Nesting is counted and capped at ``MAX_DEPTH`` before
recursing, so no input can exhaust Python's stack.
"""

from __future__ import annotations

from typing import Final, NoReturn

from oxify.engine.conditions.functions import FUNCTIONS
from oxify.engine.conditions.lexer import Token, tokenize
from oxify.engine.conditions.limits import MAX_DEPTH, MAX_HEIGHT, MAX_SOURCE_LENGTH
from oxify.engine.conditions.nodes import (
    Arith,
    BoolOp,
    Call,
    Compare,
    Expr,
    Index,
    ListExpr,
    Literal,
    Not,
    Ref,
    Unary,
)
from oxify.engine.paths import ParsedPath, Segment
from oxify.errors import ConditionSyntaxError

_OR: Final = 1
_AND: Final = 2
_NOT: Final = 3
_CMP: Final = 4
_ADD: Final = 5
_MUL: Final = 6
_UNARY: Final = 7
_BINDING: Final = {
    "||": _OR,
    "&&": _AND,
    "==": _CMP,
    "!=": _CMP,
    "<": _CMP,
    "<=": _CMP,
    ">": _CMP,
    ">=": _CMP,
    "in": _CMP,
    "not in": _CMP,
    "+": _ADD,
    "-": _ADD,
    "*": _MUL,
    "/": _MUL,
    "%": _MUL,
}


def parse(text: str) -> Expr:
    """Parse condition ``text`` into its syntax tree; raise ConditionSyntaxError."""
    if len(text) > MAX_SOURCE_LENGTH:
        raise ConditionSyntaxError(
            f"condition is too long ({len(text)} characters; the limit is {MAX_SOURCE_LENGTH})",
            MAX_SOURCE_LENGTH,
            text,
        )
    return _Parser(text).parse()


def _static_key(expr: Expr) -> Segment | None:
    """The key of ``[expr]`` when it is a constant string or integer, else None."""
    if isinstance(expr, Literal) and isinstance(expr.value, str | int):
        return None if isinstance(expr.value, bool) else expr.value
    if isinstance(expr, Unary) and expr.op == "-":
        inner = _static_key(expr.operand)
        if isinstance(inner, int):
            return -inner
    return None


def _arity(minimum: int, maximum: int | None) -> str:
    if maximum is None:
        return f"at least {minimum} argument{'s' if minimum != 1 else ''}"
    return f"exactly {minimum} argument{'s' if minimum != 1 else ''}"


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0
        self.depth = 0

    # -- token helpers ------------------------------------------------------------------------
    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def advance(self) -> Token:
        token = self.peek()
        self.i = min(self.i + 1, len(self.tokens) - 1)
        return token

    def source(self, token: Token) -> str:
        return self.text[token.pos : token.end]

    def describe(self, token: Token) -> str:
        if token.kind == "end":
            return "end of input"
        src = self.source(token)
        return f"'{src[:30]}...'" if len(src) > 30 else f"'{src}'"

    def fail(self, message: str, token: Token) -> NoReturn:
        raise ConditionSyntaxError(message, token.pos, self.text)

    @staticmethod
    def is_op(token: Token, *ops: str) -> bool:
        return token.kind == "op" and token.value in ops

    def expect(self, op: str) -> Token:
        token = self.peek()
        if not self.is_op(token, op):
            self.fail(f"expected '{op}' but found {self.describe(token)}", token)
        return self.advance()

    def checked(self, node: Expr, token: Token) -> Expr:
        if node.height > MAX_HEIGHT:
            self.fail(f"expression is nested too deeply (the limit is {MAX_HEIGHT} levels)", token)
        return node

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            self.fail(
                f"expression is nested too deeply (the limit is {MAX_DEPTH} levels)", self.peek()
            )

    # -- grammar ------------------------------------------------------------------------------
    def parse(self) -> Expr:
        if self.peek().kind == "end":
            raise ConditionSyntaxError("empty condition", 0, self.text)
        expr = self.expr(0)
        token = self.peek()
        if token.kind != "end":
            if self.is_op(token, ")", "]", ","):
                self.fail(f"unexpected {self.describe(token)}", token)
            self.fail(f"unexpected {self.describe(token)}; expected an operator", token)
        return expr

    def infix(self) -> tuple[str, int] | None:
        """The binary operator at the cursor and how many tokens it spans, if any."""
        token = self.peek()
        if token.kind == "op" and isinstance(token.value, str) and token.value in _BINDING:
            return token.value, 1
        if token.kind == "kw" and token.value == "in":
            return "in", 1
        following = self.peek(1)
        if token.kind == "kw" and following.kind == "kw" and following.value == "in":
            return "not in", 2
        if token.kind == "kw" and token.value == "not":
            self.fail("unexpected 'not'; did you mean 'not in'?", token)
        return None

    def arithmetic_op(self, binding: int) -> str | None:
        """The operator at the cursor if it is an arithmetic one of precedence ``binding``."""
        token = self.peek()
        op = str(token.value)
        return op if token.kind == "op" and _BINDING.get(op) == binding else None

    def expr(self, min_binding: int) -> Expr:
        self.enter()
        left = self.prefix(min_binding)
        while (found := self.infix()) is not None:
            op, width = found
            binding = _BINDING[op]
            if binding < min_binding:
                break
            start = self.peek()
            if binding in (_OR, _AND):
                operands = [left]
                while self.is_op(self.peek(), op):
                    self.advance()
                    operands.append(self.expr(binding + 1))
                left = self.checked(BoolOp(op, tuple(operands)), start)
            elif binding == _CMP:
                self.i += width
                right = self.expr(binding + 1)
                left = self.checked(Compare(op, left, right), start)
                again = self.infix()
                if again is not None and _BINDING[again[0]] == _CMP:
                    self.fail(
                        "comparisons cannot be chained (as in 'a < b < c'); write 'a < b && b < c'",
                        self.peek(),
                    )
            else:
                rest: list[tuple[str, Expr]] = []
                while (same := self.arithmetic_op(binding)) is not None:
                    self.advance()
                    rest.append((same, self.expr(binding + 1)))
                left = self.checked(Arith(left, tuple(rest)), start)
        self.depth -= 1
        return left

    def prefix(self, min_binding: int) -> Expr:
        token = self.advance()
        if self.is_op(token, "!") or (token.kind == "kw" and token.value == "not"):
            if min_binding > _NOT:
                self.fail(
                    f"put the negation in parentheses: '{self.source(token)}' binds more loosely "
                    "than comparisons and arithmetic (write 'a == (!b)')",
                    token,
                )
            return self.checked(Not(self.expr(_NOT)), token)
        if self.is_op(token, "-", "+"):
            return self.checked(Unary(str(token.value), self.expr(_UNARY)), token)
        primary = self.primary(token)
        return self.postfix(primary, token)

    def primary(self, token: Token) -> Expr:
        if token.kind in ("num", "str", "lit"):
            return Literal(token.value)
        if token.kind == "name":
            if self.is_op(self.peek(), "("):
                return self.call(token)
            return Ref(ParsedPath((str(token.value),), 1))
        if token.kind == "dollar":
            return Ref(ParsedPath((str(token.value),), 1))
        if self.is_op(token, "("):
            inner = self.expr(0)
            self.expect(")")
            return inner
        if self.is_op(token, "["):
            return self.list_literal(token)
        self.fail(f"expected an expression but found {self.describe(token)}", token)

    def list_literal(self, start: Token) -> Expr:
        items: list[Expr] = []
        while not self.is_op(self.peek(), "]"):
            items.append(self.expr(0))
            token = self.peek()
            if self.is_op(token, ","):
                self.advance()
            elif not self.is_op(token, "]"):
                self.fail(f"expected ',' or ']' but found {self.describe(token)}", token)
        self.advance()
        return self.checked(ListExpr(tuple(items)), start)

    def call(self, name_token: Token) -> Expr:
        name = str(name_token.value)
        function = FUNCTIONS.get(name)
        if function is None:
            self.fail(
                f"unknown function '{name}'; allowed functions: {', '.join(sorted(FUNCTIONS))}",
                name_token,
            )
        self.advance()  # '('
        args: list[Expr] = []
        while not self.is_op(self.peek(), ")"):
            args.append(self.expr(0))
            token = self.peek()
            if self.is_op(token, ","):
                self.advance()
            elif not self.is_op(token, ")"):
                self.fail(f"expected ',' or ')' but found {self.describe(token)}", token)
        self.advance()
        too_many = function.max_args is not None and len(args) > function.max_args
        if len(args) < function.min_args or too_many:
            self.fail(
                f"{name}() takes {_arity(function.min_args, function.max_args)} "
                f"({len(args)} given)",
                name_token,
            )
        return self.checked(Call(name, tuple(args)), name_token)

    def postfix(self, node: Expr, first: Token) -> Expr:
        scalar = first.kind in ("num", "str", "lit")
        entered = 0
        while True:
            token = self.peek()
            if self.is_op(token, "("):
                self.method_call_error(node, token)
            if not self.is_op(token, ".", "["):
                break
            if scalar:
                self.fail(f"{self.describe(first)} is a literal: it has no members", token)
            self.advance()
            key: Expr
            if token.value == ".":
                key = Literal(self.member_name())
            else:
                key = self.expr(0)
                self.expect("]")
            static = _static_key(key)
            if static is not None and isinstance(node, Ref):
                path = node.path
                joinable = token.value == "." and path.dotted == len(path.segments)
                dotted = path.dotted + 1 if joinable else path.dotted
                node = Ref(ParsedPath((*path.segments, static), dotted))
            else:
                self.enter()  # a computed lookup nests: count it like any other level
                entered += 1
                where = self.text[first.pos : token.pos].strip()
                node = self.checked(Index(node, key, where), token)
        self.depth -= entered
        return node

    def member_name(self) -> str:
        token = self.advance()
        src = self.source(token)
        is_word = src.isascii() and src.isidentifier()
        is_digits = token.kind == "num" and src.isascii() and src.isdigit()
        if not (is_word or is_digits):
            self.fail(f"expected a name after '.' but found {self.describe(token)}", token)
        return src

    def method_call_error(self, node: Expr, token: Token) -> NoReturn:
        if isinstance(node, Ref) and len(node.path.segments) > 1:
            method = node.path.segments[-1]
            self.fail(
                f"method calls are not allowed ('.{method}(...)'); call a function instead, "
                f"e.g. lower(x); allowed functions: {', '.join(sorted(FUNCTIONS))}",
                token,
            )
        self.fail(f"only these functions can be called: {', '.join(sorted(FUNCTIONS))}", token)
