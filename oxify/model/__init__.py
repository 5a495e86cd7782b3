"""The OxiFY workflow format: models, loading and saving."""

from oxify.model.io import (
    dumps_workflow,
    load_workflow,
    parse_text,
    parse_workflow,
    save_workflow,
    workflow_to_data,
)
from oxify.model.issues import Issue
from oxify.model.kinds import KIND_NAMES, ROUTER_KINDS, NodeKind
from oxify.model.workflow import (
    Edge,
    Node,
    RetryConfig,
    TimeoutConfig,
    UseDefault,
    Workflow,
    WorkflowMetadata,
)

__all__ = [
    "KIND_NAMES",
    "ROUTER_KINDS",
    "Edge",
    "Issue",
    "Node",
    "NodeKind",
    "RetryConfig",
    "TimeoutConfig",
    "UseDefault",
    "Workflow",
    "WorkflowMetadata",
    "dumps_workflow",
    "load_workflow",
    "parse_text",
    "parse_workflow",
    "save_workflow",
    "workflow_to_data",
]
