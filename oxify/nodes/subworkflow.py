"""The SubWorkflow node: run another workflow as a child execution.

The child's inputs are the ``input_mappings`` rendered in this node's scope (a mapping that
is exactly ``{{name}}`` keeps its JSON type), on top of this execution's inputs when
``inherit_context`` is set. The child comes from ``workflow_path`` or, as an oxify
extension, from an inline ``workflow``. Output: ``{execution_id, state, output}`` where
``output`` is the child's result (its End node's output), or the key ``output_variable`` of
it when that is set.
"""

from __future__ import annotations

from typing import Any

from oxify.errors import NodeError
from oxify.model.definition import body_ref
from oxify.model.kinds import SubWorkflowConfig
from oxify.nodes.base import NodeContext
from oxify.nodes.composite import ChildResult, ChildSpec, Spawn


class SubWorkflowExecutor:
    """Composite executor of ``SubWorkflow`` nodes."""

    def begin(self, ctx: NodeContext) -> Any:
        cfg: SubWorkflowConfig = ctx.config
        ref = body_ref(ctx.node, "workflow") or body_ref(ctx.node, "workflow_path")
        if ref is None:
            raise NodeError(f"sub-workflow {ctx.node.label} has no workflow_path and no workflow")
        inputs: dict[str, Any] = dict(ctx.inputs) if cfg.inherit_context else {}
        for name, template in cfg.input_mappings.items():
            inputs[name] = ctx.render(template)
        return Spawn([ChildSpec(ref, inputs, "sub-workflow")])

    def resume(self, ctx: NodeContext, state: Any, results: list[ChildResult]) -> Any:
        cfg: SubWorkflowConfig = ctx.config
        child = results[0]
        if not child.ok:
            raise NodeError(
                f"sub-workflow {ctx.node.label} {child.state}: {child.error or 'no reason given'}",
                retryable=True,  # a new attempt runs a new child
            )
        output = child.output
        if cfg.output_variable:
            output = output.get(cfg.output_variable) if isinstance(output, dict) else None
        return {"execution_id": child.execution_id, "state": child.state, "output": output}
