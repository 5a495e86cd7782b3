"""Node kinds of the OxiFY format: ``{"type": "<Variant>", "config": {...}}``.

Variant names and config fields are those of the Rust engine (oxify-model), so its files load
unchanged. Unknown fields are kept (``extra="allow"``) so a file round-trips losslessly; the
validator warns about them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer


class _Config(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class LlmConfig(_Config):
    """An LLM call."""

    provider: str
    model: str
    system_prompt: str | None = None
    prompt_template: str
    temperature: float | None = None
    max_tokens: int | None = None
    tools: list[Any] = Field(default_factory=list)
    images: list[Any] = Field(default_factory=list)
    extra_params: Any = None


class VectorConfig(_Config):
    """A vector search (Retriever node)."""

    db_type: str
    collection: str
    query: str
    top_k: int
    score_threshold: float | None = None


class ScriptConfig(_Config):
    """Sandboxed code (Code node)."""

    runtime: str
    code: str
    inputs: list[str] = Field(default_factory=list)
    output: str


class ConditionConfig(_Config):
    """IfElse: evaluate ``expression``; route to ``true_branch`` or ``false_branch``."""

    expression: str
    true_branch: str
    false_branch: str


class McpConfig(_Config):
    """A tool call (MCP or HTTP)."""

    server_id: str
    tool_name: str
    parameters: Any = None


class ForEachLoop(_Config):
    variant: Literal["ForEach"]
    collection_path: str
    item_variable: str
    index_variable: str | None = None
    body_expression: str | None = None
    parallel: bool = False
    max_concurrency: int | None = None


class WhileLoop(_Config):
    variant: Literal["While"]
    condition: str
    body_expression: str | None = None
    counter_variable: str | None = None


class RepeatLoop(_Config):
    variant: Literal["Repeat"]
    count: str | int
    body_expression: str | None = None
    index_variable: str | None = None


LoopType = Annotated[ForEachLoop | WhileLoop | RepeatLoop, Field(discriminator="variant")]


class LoopConfig(_Config):
    loop_type: LoopType
    max_iterations: int = 1000


class TryCatchConfig(_Config):
    try_expression: str | None = None
    catch_expression: str | None = None
    finally_expression: str | None = None
    rethrow: bool = False
    error_variable: str = "error"


class SubWorkflowConfig(_Config):
    workflow_path: str = ""
    input_mappings: dict[str, str] = Field(default_factory=dict)
    output_variable: str | None = None
    inherit_context: bool = False


class SwitchCase(_Config):
    """``match_value`` is compared as text; prefix ``regex:`` for a regular expression."""

    match_value: str
    action: str


class SwitchConfig(_Config):
    """Switch: route to the ``action`` of the first matching case, else ``default_case``."""

    switch_on: str
    cases: list[SwitchCase] = Field(default_factory=list)
    default_case: str | None = None


class ParallelTask(_Config):
    id: str
    expression: str | None = None
    description: str | None = None


class ParallelConfig(_Config):
    strategy: Literal["WaitAll", "Race", "AllSettled"]
    tasks: list[ParallelTask] = Field(default_factory=list)
    max_concurrency: int | None = None
    timeout_ms: int | None = None


class ApprovalConfig(_Config):
    message: str
    description: str | None = None
    approvers: list[str] = Field(default_factory=list)
    timeout_seconds: int | None = None
    context_data: Any = None


FormFieldType = Literal[
    "Text",
    "Number",
    "Email",
    "Password",
    "TextArea",
    "Select",
    "MultiSelect",
    "Radio",
    "Checkbox",
    "Date",
    "DateTime",
]


class FormField(_Config):
    id: str
    label: str
    field_type: FormFieldType
    required: bool = False
    default_value: Any = None
    validation: Any = None
    options: list[str] = Field(default_factory=list)


class FormConfig(_Config):
    title: str
    description: str | None = None
    fields: list[FormField] = Field(default_factory=list)
    timeout_seconds: int | None = None
    allowed_submitters: list[str] = Field(default_factory=list)


class VisionConfig(_Config):
    provider: str
    model_path: str | None = None
    output_format: str = "markdown"
    use_gpu: bool = False
    language: str | None = None
    image_input: str
    options: Any = None


class CustomConfig(_Config):
    """A node kind supplied by a plugin registered under ``plugin_id``."""

    plugin_id: str
    plugin_version: str = ""
    config: Any = None


class EndConfig(_Config):
    """oxify extension: ``outputs`` maps result keys to templates.

    Without it, the workflow's result is the outputs of End's direct predecessors.
    """

    outputs: dict[str, Any] | None = None


class _Kind(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _UnitKind(_Kind):
    """Start and End are unit variants: the Rust engine writes ``{"type": "Start"}``."""

    @model_serializer(mode="wrap")
    def _drop_empty_config(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        if isinstance(data, dict) and data.get("config") is None:
            data.pop("config", None)
        return data


class StartKind(_UnitKind):
    type: Literal["Start"]
    config: None = None


class EndKind(_UnitKind):
    type: Literal["End"]
    config: EndConfig | None = None


class LlmKind(_Kind):
    type: Literal["LLM"]
    config: LlmConfig


class RetrieverKind(_Kind):
    type: Literal["Retriever"]
    config: VectorConfig


class CodeKind(_Kind):
    type: Literal["Code"]
    config: ScriptConfig


class IfElseKind(_Kind):
    type: Literal["IfElse"]
    config: ConditionConfig


class ToolKind(_Kind):
    type: Literal["Tool"]
    config: McpConfig


class LoopKind(_Kind):
    type: Literal["Loop"]
    config: LoopConfig


class TryCatchKind(_Kind):
    type: Literal["TryCatch"]
    config: TryCatchConfig


class SubWorkflowKind(_Kind):
    type: Literal["SubWorkflow"]
    config: SubWorkflowConfig


class SwitchKind(_Kind):
    type: Literal["Switch"]
    config: SwitchConfig


class ParallelKind(_Kind):
    type: Literal["Parallel"]
    config: ParallelConfig


class ApprovalKind(_Kind):
    type: Literal["Approval"]
    config: ApprovalConfig


class FormKind(_Kind):
    type: Literal["Form"]
    config: FormConfig


class VisionKind(_Kind):
    type: Literal["Vision"]
    config: VisionConfig


class CustomKind(_Kind):
    type: Literal["Custom"]
    config: CustomConfig


NodeKind = Annotated[
    StartKind
    | EndKind
    | LlmKind
    | RetrieverKind
    | CodeKind
    | IfElseKind
    | ToolKind
    | LoopKind
    | TryCatchKind
    | SubWorkflowKind
    | SwitchKind
    | ParallelKind
    | ApprovalKind
    | FormKind
    | VisionKind
    | CustomKind,
    Field(discriminator="type"),
]

KIND_NAMES: tuple[str, ...] = (
    "Start",
    "End",
    "LLM",
    "Retriever",
    "Code",
    "IfElse",
    "Tool",
    "Loop",
    "TryCatch",
    "SubWorkflow",
    "Switch",
    "Parallel",
    "Approval",
    "Form",
    "Vision",
    "Custom",
)
"""Every node kind of the format, in the order of the Rust enum."""

ROUTER_KINDS: frozenset[str] = frozenset({"IfElse", "Switch"})
"""Kinds whose result chooses which successors run."""
