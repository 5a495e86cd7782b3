"""The embedded body: the runtime over the in-process store and this process's threads."""

from oxify.embedded.engine import Engine
from oxify.embedded.execution import Execution

__all__ = ["Engine", "Execution"]
