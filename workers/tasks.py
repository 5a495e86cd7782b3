"""The one generic worker task: run one attempt of one node."""

from __future__ import annotations

from oxify.distributed.services import runtime
from oxify.runtime.dispatch import NodeTask
from workers.app import app


@app.task(name="oxify.run_node")
def run_node(
    execution_id: str,
    node_id: str,
    attempt: int,
    workflow_hash: str,
    name: str = "",
    kind: str = "",
    notify: bool = True,
) -> str:
    """Run attempt ``attempt`` of node ``node_id`` (``name``/``kind`` are there for Flower).

    Safe to deliver twice: the claim in the store lets one delivery run it.
    """
    task = NodeTask(execution_id, node_id, attempt, workflow_hash, "", name, kind, notify=notify)
    return runtime(app).runner.run(task)
