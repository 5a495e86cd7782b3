"""oxify: run AI workflows (DAGs of LLM calls, retrieval, code, tools, branches) in-process
or distributed on Celery + Redis.

>>> import oxify
>>> wf = oxify.load_workflow("examples/diamond.json")          # doctest: +SKIP
>>> result = oxify.Engine().run(wf, {"x": 3})                  # doctest: +SKIP
>>> result.state, result.outputs                               # doctest: +SKIP
"""

from __future__ import annotations

__version__ = "0.1.0"

from oxify.embedded import Engine, Execution
from oxify.engine.loading import load_definition, load_workflow, parse_workflow
from oxify.engine.options import ExecutionConfig
from oxify.engine.results import ExecutionResult, NodeResult
from oxify.engine.state import ExecutionState, NodeState
from oxify.engine.validate import ValidationReport, validate
from oxify.errors import (
    ConfigError,
    ExecutionError,
    NodeError,
    OxifyError,
    ValidationError,
    WorkflowError,
)
from oxify.events import Event
from oxify.model import Edge, Node, Workflow, dumps_workflow, save_workflow
from oxify.model.definition import Definition
from oxify.nodes.base import NodeContext, Routed
from oxify.nodes.registry import NodeRegistry
from oxify.runtime.hooks import Hooks
from oxify.store.checkpoints import FileCheckpointStore, MemoryCheckpointStore

__all__ = [
    "ConfigError",
    "Definition",
    "Edge",
    "Engine",
    "Event",
    "Execution",
    "ExecutionConfig",
    "ExecutionError",
    "ExecutionResult",
    "ExecutionState",
    "FileCheckpointStore",
    "Hooks",
    "MemoryCheckpointStore",
    "Node",
    "NodeContext",
    "NodeError",
    "NodeRegistry",
    "NodeResult",
    "NodeState",
    "OxifyError",
    "Routed",
    "ValidationError",
    "ValidationReport",
    "Workflow",
    "WorkflowError",
    "__version__",
    "dumps_workflow",
    "load_definition",
    "load_workflow",
    "parse_workflow",
    "save_workflow",
    "validate",
]


def __getattr__(name: str) -> object:
    # Distributed mode needs the optional redis/celery packages: import it on first use.
    if name == "Client":
        from oxify.client import Client

        return Client
    raise AttributeError(f"module 'oxify' has no attribute {name!r}")
