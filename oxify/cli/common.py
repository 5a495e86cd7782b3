"""What the ``oxify`` commands share: exit codes, inputs and options, showing results,
running an embedded execution, following a distributed one."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from oxify.errors import ConfigError, ExecutionError
from oxify.model.io import Format, parse_text

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


def cli_engine(checkpoints: Any) -> Any:
    """The engine of embedded runs: the built-in executors plus ``OXIFY_PLUGINS``, the
    ``OXIFY_HOOKS`` hooks, checkpoints in ``checkpoints``."""
    from oxify.config import Settings, load_hooks, load_plugins
    from oxify.embedded import Engine
    from oxify.nodes.registry import NodeRegistry

    settings = Settings.from_env()
    registry = NodeRegistry.default()
    load_plugins(registry, settings.plugins)
    return Engine(registry=registry, hooks=load_hooks(settings.hooks), checkpoints=checkpoints)


def make_progress(args: argparse.Namespace, workflow: Any) -> Any:
    """A progress display on stderr when one is wanted (a terminal, or --progress)."""
    from oxify.cli.progress import Progress

    show = not args.json and not args.quiet and (args.progress or sys.stderr.isatty())
    return Progress.for_workflow(workflow, sys.stderr, live=sys.stderr.isatty()) if show else None


def run_embedded(start: Callable[[], Any], progress: Any, as_json: bool) -> int:
    """Start an embedded execution and wait for it (Ctrl-C cancels it; ``oxify resume ID``
    continues it; ``oxify pause|resume|cancel ID`` from another shell reach it through the
    state directory), print the result, return the exit code."""
    import signal
    import threading

    from oxify.config import state_dir
    from oxify.embedded.control import ControlChannel

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
                with contextlib.suppress(ExecutionError):  # it ended meanwhile
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
    from oxify.engine.options import ExecutionConfig

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


def watch(client: Any, execution_id: str, *, quiet: bool = False) -> Any:
    """Follow the event stream (with progress on a terminal) until the end; the result."""
    from oxify.cli.progress import Progress

    progress = None
    if not quiet:
        result = client.get(execution_id)
        workflow_nodes = list(result.nodes)
        progress = Progress(len(workflow_nodes), sys.stderr, live=sys.stderr.isatty())
    for event in client.events(execution_id):
        if progress is not None:
            progress.on_event(event)
    if progress is not None:
        progress.close()
    return client.get(execution_id)


def finish(result: Any, as_json: bool) -> int:
    if as_json:
        print(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
    else:
        print_result(result)
    return EXIT_OK if result.ok else EXIT_FAILED
