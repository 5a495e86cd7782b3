"""What every process knows of a node kind without its executor: where it runs.

The process that drives an execution (an orchestrator, the worker that finished the node
before, a producer pausing it) never needs a node's executor to decide what to do with it:

- ``driver`` kinds (Start, End, IfElse, Switch) are cheap and pure: the driver runs them
  itself, inside the step (their executors are part of every installation);
- ``composite`` kinds (Loop, TryCatch, SubWorkflow, Parallel) are stepped by the driver
  too: they start child executions and wait for them;
- every other kind (LLM, Retriever, Code, Tool, Vision, Approval, Form, Custom) runs on a
  worker pool: the message goes to the node's ``queue`` field, else ``oxify.<pool>``; only
  the workers of that queue need its executor (a plugin, an SDK, a model).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from oxify.model.workflow import Node, Workflow


class Placement(StrEnum):
    DRIVER = "driver"
    COMPOSITE = "composite"
    POOL = "pool"


@dataclass(frozen=True, slots=True)
class KindFacts:
    pool: str
    """The worker pool of the kind (``oxify.<pool>`` is its queue)."""
    placement: Placement


_CONTROL = "control"

KINDS: dict[str, KindFacts] = {
    "Start": KindFacts(_CONTROL, Placement.DRIVER),
    "End": KindFacts(_CONTROL, Placement.DRIVER),
    "IfElse": KindFacts(_CONTROL, Placement.DRIVER),
    "Switch": KindFacts(_CONTROL, Placement.DRIVER),
    "Loop": KindFacts(_CONTROL, Placement.COMPOSITE),
    "TryCatch": KindFacts(_CONTROL, Placement.COMPOSITE),
    "SubWorkflow": KindFacts(_CONTROL, Placement.COMPOSITE),
    "Parallel": KindFacts(_CONTROL, Placement.COMPOSITE),
    "LLM": KindFacts("llm", Placement.POOL),
    "Vision": KindFacts("llm", Placement.POOL),
    "Retriever": KindFacts("retriever", Placement.POOL),
    "Code": KindFacts("code", Placement.POOL),
    "Tool": KindFacts("tool", Placement.POOL),
    "Approval": KindFacts("human", Placement.POOL),
    "Form": KindFacts("human", Placement.POOL),
    "Custom": KindFacts(_CONTROL, Placement.POOL),
}
"""Every kind's pool and placement (the distributed runner routes on it)."""

POOLS: dict[str, str] = {kind: facts.pool for kind, facts in KINDS.items()}
"""Default worker pool of each kind."""


def placement(node: Node) -> Placement:
    """Where ``node`` runs: in the driver's step, as a composite, or on a worker pool."""
    return KINDS[node.kind.type].placement


def queue_for(workflow: Workflow, node_id: str) -> str:
    """The Celery queue of a node: its own ``queue`` field, else its kind's pool."""
    node = workflow.nodes_by_id[node_id]
    own = (node.model_extra or {}).get("queue")
    if isinstance(own, str) and own:
        return own
    return f"oxify.{KINDS[node.kind.type].pool}"
