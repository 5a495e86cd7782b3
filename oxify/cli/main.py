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
from typing import TextIO

from oxify import __version__
from oxify.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    UsageError,
    add_execution_options,
    cli_engine,
    config_from,
    make_progress,
    read_inputs,
    run_embedded,
)
from oxify.engine.loading import load_definition, load_workflow
from oxify.errors import (
    ConfigError,
    ExecutionError,
    OxifyError,
    ValidationError,
    WorkflowError,
    WorkflowLoadError,
)
from oxify.model.issues import Issue


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
        from oxify.cli.distributed import run_distributed

        return run_distributed(args)
    from oxify.config import state_dir, state_ttl
    from oxify.embedded.control import running_pid
    from oxify.store.checkpoints import FileCheckpointStore

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

    from oxify.cli.distributed import add_commands
    from oxify.cli.durable import add_durable_commands

    add_commands(sub)
    add_durable_commands(sub)
    return parser


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
    sys.exit(main())
