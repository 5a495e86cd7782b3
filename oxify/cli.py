"""The ``oxify`` command line.

Exit codes: 0 the execution completed (or the workflow is valid), 1 it failed or was
cancelled, 2 the workflow is invalid or the command was used wrongly. Errors are printed as
one line per problem on stderr, never as a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from oxify import __version__
from oxify.errors import (
    ConfigError,
    ExecutionError,
    OxifyError,
    ValidationError,
    WorkflowError,
    WorkflowLoadError,
)
from oxify.model.io import Format, load_workflow, parse_text
from oxify.model.issues import Issue

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class UsageError(ConfigError):
    """A bad command-line argument (exit code 2)."""


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _parse_assignment(text: str) -> tuple[str, Any]:
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise UsageError(f"-i expects key=value, got {text!r}")
    try:
        value: Any = json.loads(raw, parse_constant=_not_json)
    except ValueError:
        value = raw
    return key.strip(), value


def read_inputs(args: argparse.Namespace) -> dict[str, Any]:
    inputs: dict[str, Any] = {}
    if args.inputs_file:
        path = Path(args.inputs_file)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as e:
            raise UsageError(f"--inputs-file {path}: {e.strerror or e}") from None
        fmt: Format = "yaml" if path.suffix.lower() in (".yaml", ".yml") else "json"
        data = parse_text(text, fmt, source=str(path))
        if not isinstance(data, dict):
            raise UsageError(f"--inputs-file {path}: expected an object of input values")
        inputs.update(data)
    for item in args.input or []:
        key, value = _parse_assignment(item)
        inputs[key] = value
    return inputs


def _print_json_report(issues: list[Issue]) -> None:
    valid = not any(i.severity == "error" for i in issues)
    print(json.dumps({"valid": valid, "issues": [i.to_dict() for i in issues]}, indent=2))


def _print_issues(issues: list[Issue], stream: TextIO) -> None:
    for issue in issues:
        print(f"{issue}", file=stream)


# -- commands --------------------------------------------------------------------------------
def cmd_validate(args: argparse.Namespace) -> int:
    from oxify.engine.plan import build_plan
    from oxify.engine.validate import validate

    try:
        workflow = load_workflow(args.file)
    except ValidationError as e:
        if not args.json:
            raise
        _print_json_report(e.issues)
        return EXIT_USAGE
    except WorkflowLoadError as e:
        if not args.json:
            raise
        _print_json_report([Issue("error", "invalid_file", str(e))])
        return EXIT_USAGE
    report = validate(workflow)
    report.issues.extend(_subworkflow_issues(args.file))
    if args.json:
        _print_json_report(report.issues)
        return EXIT_OK if report.ok else EXIT_USAGE
    _print_issues(report.warnings, sys.stderr)
    if not report.ok:
        _print_issues(report.errors, sys.stderr)
        n = len(report.errors)
        print(f"{args.file}: invalid ({n} error{'s' if n != 1 else ''})", file=sys.stderr)
        return EXIT_USAGE
    plan = build_plan(workflow)
    print(
        f"{args.file}: valid ({len(workflow.nodes)} nodes, {len(workflow.edges)} edges, "
        f"{len(plan.levels)} levels, {len(report.warnings)} warnings)"
    )
    return EXIT_OK


def _subworkflow_issues(path: str) -> list[Issue]:
    """Problems of the sub-workflow files a workflow names (missing, unreadable, invalid)."""
    from oxify.definition import load_definition
    from oxify.engine.validate import validate

    try:
        definition = load_definition(path)
    except ValidationError as e:
        return [
            Issue("error", i.code, f"in a sub-workflow file: {i.message}", i.path)
            for i in e.issues
            if i.severity == "error"
        ]
    except WorkflowLoadError as e:
        return [Issue("error", "subworkflow_file", str(e))]
    issues = []
    for name, child in sorted(definition.library.items()):
        for i in validate(child).errors:
            issues.append(Issue("error", i.code, f"in {name}: {i.message}", i.path, i.node_id))
    return issues


def cmd_plan(args: argparse.Namespace) -> int:
    from oxify.engine.validate import ensure_valid

    workflow = load_workflow(args.file)
    plan = ensure_valid(workflow)
    nodes = workflow.nodes_by_id
    if args.json:
        levels = [
            [{"id": n, "name": nodes[n].name, "kind": nodes[n].kind_name} for n in level]
            for level in plan.levels
        ]
        print(json.dumps({"levels": levels}, indent=2))
        return EXIT_OK
    for i, level in enumerate(plan.levels):
        names = ", ".join(f"{nodes[n].name} [{nodes[n].kind_name}]" for n in level)
        print(f"level {i}: {names}")
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    if args.distributed:
        from oxify.cli_distributed import run_distributed

        return run_distributed(args)
    from oxify.checkpoints import FileCheckpointStore
    from oxify.config import state_dir, state_ttl
    from oxify.definition import load_definition
    from oxify.local_control import running_pid

    inputs = read_inputs(args)
    config = config_from(args)
    definition = load_definition(args.file)
    store = FileCheckpointStore(state_dir())
    with contextlib.suppress(OSError):  # retention: executions not touched for a week
        store.prune(time.time() - state_ttl(), lambda eid: running_pid(store.root, eid) is not None)
    engine = cli_engine(store)
    progress = make_progress(args, definition.workflow)
    on_event = progress.on_event if progress else None
    return run_embedded(
        lambda: engine.start(definition, inputs, config, on_event=on_event), progress, args.json
    )


def cli_engine(checkpoints: Any) -> Any:
    """The engine of embedded runs: the built-in executors plus ``OXIFY_PLUGINS``, the
    ``OXIFY_HOOKS`` hooks, checkpoints in ``checkpoints``."""
    from oxify.config import Settings, load_hooks, load_plugins
    from oxify.local import Engine
    from oxify.nodes.registry import NodeRegistry

    settings = Settings.from_env()
    registry = NodeRegistry.default()
    load_plugins(registry, settings.plugins)
    return Engine(registry=registry, hooks=load_hooks(settings.hooks), checkpoints=checkpoints)


def make_progress(args: argparse.Namespace, workflow: Any) -> Any:
    """A progress display on stderr when one is wanted (a terminal, or --progress)."""
    from oxify.progress import Progress

    show = not args.json and not args.quiet and (args.progress or sys.stderr.isatty())
    return Progress.for_workflow(workflow, sys.stderr, live=sys.stderr.isatty()) if show else None


def run_embedded(start: Callable[[], Any], progress: Any, as_json: bool) -> int:
    """Start an embedded execution and wait for it (Ctrl-C cancels it; ``oxify resume ID``
    continues it; ``oxify pause|resume|cancel ID`` from another shell reach it through the
    state directory), print the result, return the exit code."""
    import signal
    import threading

    from oxify.config import state_dir
    from oxify.local_control import ControlChannel

    interrupted = threading.Event()

    def on_sigint(signum: int, frame: Any) -> None:
        if interrupted.is_set():
            raise KeyboardInterrupt  # a second Ctrl-C: stop waiting
        interrupted.set()

    previous = signal.signal(signal.SIGINT, on_sigint)
    channel: ControlChannel | None = None
    try:
        execution = start()  # a Ctrl-C meanwhile is kept for the loop below
        channel = ControlChannel(state_dir(), execution.id)
        channel.open()
        while not execution.done():
            if interrupted.is_set():
                execution.cancel("interrupted")
                execution.wait()
                print(
                    f"oxify: interrupted; continue with: oxify resume {execution.id}",
                    file=sys.stderr,
                )
                break
            for action in channel.take():
                if action == "pause":
                    execution.pause("requested from the command line")
                elif action == "resume":
                    execution.resume()
                else:
                    execution.cancel("cancelled by request")
            with contextlib.suppress(TimeoutError):
                execution.wait(0.1)
    finally:
        signal.signal(signal.SIGINT, previous)
        if channel is not None:
            channel.close()
    result = execution.wait()
    if progress is not None:
        progress.close()
    if as_json:
        print(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
    else:
        print_result(result)
    return EXIT_OK if result.ok else EXIT_FAILED


def print_result(result: Any) -> None:
    duration = f" in {result.duration:.3f} s" if result.duration is not None else ""
    print(f"execution {result.execution_id}: {result.state.value}{duration}")
    if result.error:
        print(f"error: {result.error}")
    for node_id in result.failed_nodes:
        node = result.nodes[node_id]
        print(f"failed: {node.name} ({node_id}): {node.error}")
    print(json.dumps(result.outputs, indent=2, ensure_ascii=False))


# -- parser ----------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="oxify",
        description="Run AI workflows (OxiFY format, JSON or YAML) embedded or on Celery + Redis.",
        epilog="Exit codes: 0 completed/valid, 1 failed or cancelled, 2 invalid workflow or usage.",
    )
    parser.add_argument("--version", action="version", version=f"oxify {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("validate", help="check a workflow file and list every problem")
    p.add_argument("file", metavar="FILE", help="workflow file (.json, .yaml)")
    p.add_argument("--json", action="store_true", help="print the findings as JSON")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("plan", help="show the execution levels of a workflow")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--json", action="store_true", help="print the levels as JSON")
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser(
        "run",
        help="run a workflow and print its result (in-process unless --distributed)",
        description="Run a workflow in-process (embedded mode: no Redis, no workers), or with "
        "--distributed on the Celery worker pools (submit, watch, print the result).",
    )
    p.add_argument("file", metavar="FILE")
    add_execution_options(p)
    p.add_argument(
        "--max-concurrency", type=int, metavar="N", help="nodes running at once (default 32)"
    )
    p.add_argument(
        "--progress", action="store_true", help="show progress even when not on a terminal"
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    p.add_argument(
        "--distributed",
        action="store_true",
        help="run on the worker pools through Redis (needs an orchestrator and workers)",
    )
    p.add_argument("--redis-url", metavar="URL", help="Redis for --distributed (OXIFY_REDIS_URL)")
    p.set_defaults(func=cmd_run)

    from oxify.cli_distributed import add_commands
    from oxify.cli_durable import add_durable_commands

    add_commands(sub)
    add_durable_commands(sub)
    return parser


def add_execution_options(p: argparse.ArgumentParser) -> None:
    """Inputs and execution options shared by ``run`` and ``submit``."""
    p.add_argument(
        "-i",
        "--input",
        action="append",
        metavar="KEY=VALUE",
        help="a workflow input; VALUE is parsed as JSON when it can be (-i n=3 gives a number)",
    )
    p.add_argument("--inputs-file", metavar="F", help="a JSON or YAML object of inputs")
    p.add_argument("--json", action="store_true", help="print exactly one JSON document")
    p.add_argument(
        "--mode",
        choices=("levels", "dataflow"),
        default="levels",
        help="levels: a DAG level at a time (default); dataflow: each node as soon as its "
        "dependencies are done",
    )
    p.add_argument(
        "--timeout", type=float, metavar="S", help="time limit for the whole run, seconds"
    )
    p.add_argument(
        "--node-timeout", type=float, metavar="S", help="default per-attempt node time limit"
    )
    p.add_argument(
        "--continue-on-error",
        action="store_true",
        help="a failed node does not fail the run; its dependents are skipped (see "
        "--on-upstream-failure)",
    )
    p.add_argument(
        "--on-upstream-failure",
        choices=("skip", "execute_with_defaults", "fail_immediately"),
        default="skip",
        help="with --continue-on-error, what happens to dependents of a failed node: skip "
        "them (default), run them on the failed node's default_output, or fail the run",
    )
    p.add_argument(
        "--checkpoint",
        metavar="FREQ",
        default="never",
        help="checkpoint frequency: never (default), every_level, every_n_levels:N, "
        "every_n_nodes:N",
    )
    p.add_argument(
        "--max-checkpoints", type=int, metavar="N", help="checkpoints kept per execution (10)"
    )
    p.add_argument(
        "--max-depth", type=int, metavar="N", help="how deep sub-workflows may nest (16)"
    )


def config_from(args: argparse.Namespace) -> Any:
    """The ExecutionConfig that the options ask for."""
    from oxify.execution import ExecutionConfig

    options: dict[str, Any] = {
        "mode": args.mode,
        "continue_on_error": args.continue_on_error,
        "on_upstream_failure": args.on_upstream_failure,
        "checkpoint_frequency": args.checkpoint,
    }
    if args.max_checkpoints is not None:
        options["max_checkpoints"] = args.max_checkpoints
    if args.max_depth is not None:
        options["max_depth"] = args.max_depth
    if getattr(args, "max_concurrency", None) is not None:
        options["max_concurrent_nodes"] = args.max_concurrency
    if args.timeout is not None:
        options["timeout"] = args.timeout
    if args.node_timeout is not None:
        options["node_timeout"] = args.node_timeout
    return ExecutionConfig.make(**options)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
        return code
    except ValidationError as e:
        errors = [i for i in e.issues if i.severity == "error"]
        _print_issues(errors, sys.stderr)
        n = len(errors)
        plural = "s" if n != 1 else ""
        where = getattr(args, "file", None) or getattr(args, "workflow", None) or "workflow"
        print(f"oxify: error: {where}: invalid workflow ({n} problem{plural})", file=sys.stderr)
        return EXIT_USAGE
    except (WorkflowError, ConfigError, UsageError) as e:
        print(f"oxify: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except ExecutionError as e:
        print(f"oxify: error: {e}", file=sys.stderr)
        return EXIT_FAILED
    except OxifyError as e:
        print(f"oxify: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("oxify: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_FAILED


if __name__ == "__main__":
    from oxify.cli import main as _main  # one module object, whatever the entry point

    sys.exit(_main())
