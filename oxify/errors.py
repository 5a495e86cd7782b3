"""The one exception tree of oxify.

::

    OxifyError
    ├── WorkflowError            the workflow (file or object) is wrong: a user error
    │   ├── WorkflowLoadError    unreadable file, bad JSON/YAML, wrong shape
    │   ├── ValidationError      carries every problem found (``.issues``)
    │   └── CycleError           the edges form a cycle (``.cycle`` names the nodes)
    ├── ExpressionError          a template or a condition is wrong
    │   ├── TemplateSyntaxError
    │   ├── ConditionSyntaxError carries ``.position`` (0-based offset in the text)
    │   ├── UnknownNameError     a name that is neither an input nor an upstream node
    │   └── EvaluationError      type errors, limits, bad paths
    ├── ConfigError              a bad option (ExecutionConfig, CLI arguments)
    ├── NodeError                raised by a node executor; ``.retryable`` decides retries
    │   ├── NodeTimeoutError     an attempt ran past its timeout (retryable)
    │   └── NodeNotAvailableError the kind has no executor in this installation
    └── ExecutionError           the execution itself (unknown id, already finished, ...)

Whether a node error is retried is a property of the error: :func:`is_retryable`.
User errors (``WorkflowError``, ``ExpressionError``, ``ConfigError``) are shown as one line,
never as a traceback.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from oxify.model.issues import Issue


class OxifyError(Exception):
    """Root of every error oxify raises on purpose."""


class WorkflowError(OxifyError):
    """The workflow itself is wrong."""


class WorkflowLoadError(WorkflowError):
    """A workflow file could not be read or does not have the OxiFY shape."""


class ValidationError(WorkflowError):
    """The workflow breaks one or more rules; ``issues`` lists every one of them."""

    def __init__(self, issues: Sequence[Issue]) -> None:
        self.issues = list(issues)
        errors = [i for i in self.issues if i.severity == "error"]
        head = f"workflow is invalid ({len(errors)} problem{'s' if len(errors) != 1 else ''})"
        super().__init__(head + "".join(f"\n  {i}" for i in errors))


class CycleError(WorkflowError):
    """The graph has a cycle; ``cycle`` lists node ids along it (first repeated at the end)."""

    def __init__(self, cycle: Sequence[str], message: str | None = None) -> None:
        self.cycle = list(cycle)
        super().__init__(message or "cycle detected: " + " -> ".join(self.cycle))


class ExpressionError(OxifyError):
    """A template or condition could not be parsed or evaluated."""


class TemplateSyntaxError(ExpressionError):
    """A ``{{...}}`` template is malformed."""


class ConditionSyntaxError(ExpressionError):
    """A condition expression is malformed; ``position`` is the 0-based offset of the problem."""

    def __init__(self, message: str, position: int, text: str = "") -> None:
        self.position = position
        self.text = text
        super().__init__(f"{message} at position {position}")


class UnknownNameError(ExpressionError):
    """A name used in a template or condition is not defined."""

    def __init__(self, name: str, message: str | None = None) -> None:
        self.name = name
        super().__init__(message or f"unknown name '{name}'")


class EvaluationError(ExpressionError):
    """A well-formed expression failed while being evaluated (types, limits, paths)."""


class ConfigError(OxifyError):
    """An option has a wrong value."""


class NodeError(OxifyError):
    """A node failed. ``retryable`` says whether another attempt may succeed."""

    retryable: bool = False

    def __init__(self, message: str, *, retryable: bool | None = None) -> None:
        super().__init__(message)
        if retryable is not None:
            self.retryable = retryable


class NodeTimeoutError(NodeError):
    """One attempt of a node ran longer than its ``execution_timeout_ms``."""

    retryable = True


class NodeNotAvailableError(NodeError):
    """No executor for this node kind is installed."""

    retryable = False


class ExecutionError(OxifyError):
    """An operation on an execution is not possible (unknown id, wrong state)."""


_TRANSIENT: tuple[type[BaseException], ...] = (TimeoutError, ConnectionError)


def is_retryable(error: BaseException) -> bool:
    """Whether a failed node attempt that raised ``error`` should be retried.

    ``NodeError`` says so itself; timeouts and connection errors from libraries are
    transient; anything else (including template and expression errors) is not.
    """
    if isinstance(error, NodeError):
        return error.retryable
    if isinstance(error, ExpressionError):
        return False
    return isinstance(error, _TRANSIENT)
