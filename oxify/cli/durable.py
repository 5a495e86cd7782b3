"""``oxify`` commands of durable executions: pause, resume, replay, checkpoints.

An execution id that the local state directory knows (``OXIFY_STATE_DIR``; the ``oxify
run`` command keeps embedded executions there) is handled in-process; any other id is looked
up in Redis (distributed mode).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

from oxify.cli.common import (
    EXIT_OK,
    cli_engine,
    finish,
    make_progress,
    read_inputs,
    run_embedded,
    watch,
)


def _local(execution_id: str) -> Any:
    """The embedded checkpoint store when it knows the execution, else None."""
    from oxify.config import state_dir
    from oxify.errors import ExecutionError
    from oxify.store.checkpoints import FileCheckpointStore

    store = FileCheckpointStore(state_dir())
    try:
        store.execution(execution_id)
    except ExecutionError:
        return None
    return store


def _engine(store: Any) -> Any:
    return cli_engine(store)


def _client(args: argparse.Namespace) -> Any:
    from oxify.client import Client

    return Client(getattr(args, "redis_url", None))


def _workflow_for(args: argparse.Namespace, store: Any) -> Any:
    """The definition to resume/replay with: --workflow, else (embedded) the file the
    execution was started from when it still exists, else None (the stored one)."""
    from pathlib import Path

    from oxify.engine.loading import load_definition

    if args.workflow:
        return load_definition(args.workflow)
    if store is not None:
        source = store.execution(args.execution_id).source
        if source and Path(source).is_file():
            return load_definition(source)
    return None


def _stored_workflow(store: Any, execution_id: str, definition: Any) -> Any:
    from oxify.model.io import parse_workflow

    if definition is not None:
        return definition.workflow
    return parse_workflow(store.execution(execution_id).workflow)


def signal_embedded(execution_id: str, action: str) -> bool:
    """Send ``action`` to an embedded execution that a live ``oxify`` process runs. False
    if the id is not an embedded execution; a clear error if it is one that no process
    runs any more (pause and cancel need it running)."""
    from oxify.config import state_dir
    from oxify.embedded.control import send
    from oxify.errors import ExecutionError

    if _local(execution_id) is None:
        return False
    if send(state_dir(), execution_id, action):
        print(f"execution {execution_id}: {action} requested")
        return True
    if action == "resume":
        return False  # not running: resume from its checkpoint instead
    raise ExecutionError(
        f"execution {execution_id} ran embedded and no process runs it now (it ended, or "
        "its process died): continue it with oxify resume"
    )


def cmd_pause(args: argparse.Namespace) -> int:
    if signal_embedded(args.execution_id, "pause"):
        return EXIT_OK
    client = _client(args)
    client.pause(args.execution_id, args.reason)
    print(f"execution {args.execution_id}: {client.get(args.execution_id).state.value}")
    return EXIT_OK


def cmd_resume(args: argparse.Namespace) -> int:
    plain = args.checkpoint is None and not args.workflow
    if plain and signal_embedded(args.execution_id, "resume"):  # paused in a live process
        return EXIT_OK
    store = _local(args.execution_id)
    if store is not None:
        from oxify.config import state_dir
        from oxify.embedded.control import running_pid
        from oxify.errors import ExecutionError

        pid = running_pid(state_dir(), args.execution_id)
        if pid is not None:
            raise ExecutionError(
                f"execution {args.execution_id} is running in process {pid}: cancel it "
                "first (oxify cancel) to restart it from a checkpoint"
            )
    definition = _workflow_for(args, store)
    if store is not None:
        progress = make_progress(args, _stored_workflow(store, args.execution_id, definition))
        engine = _engine(store)

        def start() -> Any:
            return engine.resume(
                args.execution_id,
                checkpoint=args.checkpoint,
                workflow=definition,
                allow_changed=args.allow_changed,
                on_event=progress.on_event if progress else None,
            )

        return run_embedded(start, progress, args.json)

    client = _client(args)
    client.resume(
        args.execution_id,
        checkpoint=args.checkpoint,
        workflow=definition,
        allow_changed=args.allow_changed,
    )
    if args.detach:
        print(f"execution {args.execution_id}: resumed")
        return EXIT_OK
    quiet = args.json or args.quiet or not sys.stderr.isatty()
    return finish(watch(client, args.execution_id, quiet=quiet), args.json)


def cmd_replay(args: argparse.Namespace) -> int:
    store = _local(args.execution_id)
    definition = _workflow_for(args, store) if args.workflow else None
    inputs = read_inputs(args)
    if store is not None:
        progress = make_progress(args, _stored_workflow(store, args.execution_id, definition))
        engine = _engine(store)

        def start() -> Any:
            execution = engine.replay(
                args.execution_id,
                args.from_node,
                inputs,
                checkpoint=args.checkpoint,
                workflow=definition,
                allow_changed=args.allow_changed,
                on_event=progress.on_event if progress else None,
            )
            print(
                f"replaying {args.execution_id} from {args.from_node} as {execution.id}",
                file=sys.stderr,
            )
            return execution

        return run_embedded(start, progress, args.json)

    client = _client(args)
    new_id = client.replay(
        args.execution_id,
        args.from_node,
        inputs,
        checkpoint=args.checkpoint,
        workflow=definition,
        allow_changed=args.allow_changed,
    )
    print(f"replaying {args.execution_id} from {args.from_node} as {new_id}", file=sys.stderr)
    if args.detach:
        print(new_id)
        return EXIT_OK
    quiet = args.json or args.quiet or not sys.stderr.isatty()
    return finish(watch(client, new_id, quiet=quiet), args.json)


def cmd_checkpoints(args: argparse.Namespace) -> int:
    store = _local(args.execution_id)
    if store is not None:
        rows = _engine(store).checkpoint_list(args.execution_id)
    else:
        rows = _client(args).checkpoints(args.execution_id)
    if args.json:
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    if not rows:
        print(f"execution {args.execution_id} has no checkpoints")
        return EXIT_OK
    for row in rows:
        created = datetime.fromtimestamp(row["created_at"], UTC).strftime("%Y-%m-%d %H:%M:%S")
        print(
            f"{row['id']:>4}  {created}  {row['reason']:<9}  {row['state']:<9}  "
            f"{row['finished_nodes']}/{row['total_nodes']} nodes finished, "
            f"{row['succeeded']} succeeded"
        )
    return EXIT_OK


def add_durable_commands(sub: Any) -> None:
    """Add pause, resume, replay and checkpoints to the ``oxify`` parser."""

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("execution_id", metavar="ID")
        p.add_argument(
            "--redis-url",
            metavar="URL",
            help="Redis, for distributed executions (default: OXIFY_REDIS_URL)",
        )

    def restart_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--checkpoint", metavar="C", help="start from this checkpoint id")
        p.add_argument(
            "--workflow",
            metavar="FILE",
            help="the workflow file to go on with (must match the pinned definition "
            "unless --allow-changed)",
        )
        p.add_argument(
            "--allow-changed",
            action="store_true",
            help="go on with a changed definition: changed nodes and their dependents run again",
        )
        p.add_argument("--json", action="store_true", help="print the result as JSON")
        p.add_argument("-q", "--quiet", action="store_true", help="no progress output")
        p.add_argument("--progress", action="store_true", help="progress even off a terminal")
        p.add_argument("--detach", action="store_true", help="distributed: do not wait for the end")

    p = sub.add_parser(
        "pause",
        help="pause an execution (running nodes finish, no new node starts)",
        description="Pause an execution: running nodes finish and are recorded, no new node "
        "starts, child executions pause too. A distributed execution is paused through "
        "Redis; an embedded one through the process running it (oxify run).",
    )
    common(p)
    p.add_argument("--reason", default="requested", help="recorded in the event")
    p.set_defaults(func=cmd_pause)

    p = sub.add_parser(
        "resume",
        help="resume a paused execution, or continue a failed, cancelled or interrupted one "
        "from its latest checkpoint",
        description="A paused execution goes on. A failed, cancelled or interrupted one "
        "continues from its latest checkpoint (or --checkpoint C): nodes that succeeded keep "
        "their outputs, the rest run again. The execution is pinned to its definition: a "
        "changed workflow file is refused unless --allow-changed.",
    )
    common(p)
    restart_options(p)
    p.set_defaults(func=cmd_resume)

    p = sub.add_parser(
        "replay",
        help="run an execution again from a node, reusing every output upstream of it",
        description="Start a new execution that reuses the recorded output of every node not "
        "downstream of --from NODE (no LLM or tool call is made again for them) and runs "
        "NODE and everything downstream of it again; -i changes inputs.",
    )
    common(p)
    p.add_argument("--from", dest="from_node", required=True, metavar="NODE", help="id or name")
    p.add_argument("-i", "--input", action="append", metavar="KEY=VALUE", help="change an input")
    p.add_argument("--inputs-file", metavar="F", help="a JSON or YAML object of inputs")
    restart_options(p)
    p.set_defaults(func=cmd_replay)

    p = sub.add_parser("checkpoints", help="list an execution's checkpoints")
    common(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_checkpoints)
