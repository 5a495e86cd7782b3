"""Resume and replay, shared by both runners: rebuild a record from a saved one.

- **Resume** continues the same execution from a checkpoint: nodes that succeeded (or were
  skipped) keep their state and output; failed, cancelled and unfinished nodes, and what is
  downstream of them, run again.
- **Replay** starts a new execution from a recorded one: every node not downstream of the
  chosen node reuses its recorded output (no LLM or tool call is made again); the chosen
  node and everything downstream of it run again.

An execution is pinned to the hash of its definition. Resuming or replaying with a changed
definition is refused unless ``allow_changed`` is given; then nodes whose definition
changed run again too (and everything downstream of them), as do nodes that are new.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from oxify.definition import Definition
from oxify.engine.machine import Machine
from oxify.engine.state import ExecutionRecord, NodeRecord
from oxify.errors import ExecutionError
from oxify.model.workflow import Workflow


def check_pinned(
    execution_id: str, pinned: str, definition: Definition, allow_changed: bool
) -> None:
    """Refuse a definition whose hash differs from the pinned one (unless allowed)."""
    if definition.hash == pinned or allow_changed:
        return
    raise ExecutionError(
        f"execution {execution_id} is pinned to workflow definition {pinned[:12]}, but the "
        f"workflow given is {definition.hash[:12]} (it changed since the execution started); "
        "pass --allow-changed (allow_changed=True) to go on with the changed definition"
    )


def same_definition(eid: str, cp_id: str, taken_with: str, pinned: str) -> None:
    """A checkpoint taken before the execution was re-pinned (a resume with
    ``allow_changed``) belongs to a definition that is no longer stored."""
    if taken_with != pinned:
        raise ExecutionError(
            f"checkpoint {cp_id} of execution {eid} was taken with workflow definition "
            f"{taken_with[:12]}, but the execution is now pinned to {pinned[:12]}; resume "
            "from a newer checkpoint"
        )


def find_node(workflow: Workflow, ref: str) -> str:
    """A node id from an id or a unique name; a clear error otherwise."""
    if ref in workflow.nodes_by_id:
        return ref
    matches = [n.id for n in workflow.nodes if n.name == ref]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise ExecutionError(f"several nodes are named '{ref}'; give the node id")
    names = ", ".join(n.name for n in workflow.nodes)
    raise ExecutionError(f"no node '{ref}' in workflow {workflow.name} (nodes: {names})")


def _node_doc(workflow: Workflow, node_id: str) -> str:
    node = workflow.nodes_by_id[node_id]
    doc = node.model_dump(mode="json", by_alias=True, exclude={"name"})
    preds = sorted(e.source for e in workflow.edges if e.target == node_id)
    return json.dumps([doc, preds], sort_keys=True)


def rebuild(
    machine: Machine,
    execution_id: str,
    saved_workflow: Workflow,
    saved: Mapping[str, Any],
    outputs: Mapping[str, Any],
    inputs: dict[str, Any],
    latest: Mapping[str, Any] | None = None,
) -> tuple[ExecutionRecord, set[str]]:
    """A record for ``machine``'s workflow carrying over what ``saved`` (a record in plain
    data, without outputs) recorded, and the nodes that must run again because their
    definition changed (empty when the workflow is the same).

    ``latest`` (a resume) is the execution's newest record: no node's attempt number falls
    below the one it reached there, so an attempt of the resumed run never shares its
    number — its task id, claim and child executions — with one of the run before (which
    may still be working, and whose late report must be refused)."""
    record = ExecutionRecord.from_dict(dict(saved), inputs)
    record.execution_id = execution_id
    for node_id, value in outputs.items():
        if node_id in record.nodes:
            record.nodes[node_id].output = value
    for node_id, rec in (latest or {}).get("nodes", {}).items():
        if node_id in record.nodes:
            kept = record.nodes[node_id]
            kept.attempts = max(kept.attempts, int(rec.get("attempts", 0)))
    workflow = machine.workflow
    if workflow.content_hash == saved_workflow.content_hash:
        return record, set()
    fresh = machine.new_record(execution_id, inputs)
    changed: set[str] = set()
    for node_id in fresh.nodes:
        old = record.nodes.get(node_id)
        if old is None or node_id not in saved_workflow.nodes_by_id:
            changed.add(node_id)
            continue
        if _node_doc(workflow, node_id) != _node_doc(saved_workflow, node_id):
            changed.add(node_id)
            fresh.nodes[node_id] = NodeRecord(attempts=old.attempts)
            continue
        fresh.nodes[node_id] = old
    fresh.parent, fresh.depth = record.parent, record.depth
    fresh.started_at = record.started_at
    fresh.failed_nodes = [n for n in record.failed_nodes if n in fresh.nodes]
    return fresh, changed


def count_afresh(machine: Machine, record: ExecutionRecord, rerun: set[str]) -> set[str]:
    """For a replay (a new execution): the nodes that run again, their attempt counts reset
    so they count from 1 in the new execution."""
    redo = machine.restart_set(record, rerun)
    for node_id in redo:
        record.nodes[node_id].attempts = 0
    return redo


def reusable_outputs(record: ExecutionRecord) -> dict[str, Any]:
    """The outputs a checkpoint points at: succeeded nodes, and failed ones that stand in
    with a default output."""
    return {n: r.output for n, r in record.nodes.items() if r.has_output}
