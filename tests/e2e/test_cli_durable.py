"""Durable embedded runs through the ``oxify`` command: a run killed with SIGKILL is resumed
by a new process with the same outputs; replay, checkpoints, pinning, clear errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

import oxify
from tests.conftest import test_registry as registry_with_plugins
from tests.plugins import tally
from tests.support import END, START, build, counted_chain, custom

ROOT = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    return {**os.environ, "OXIFY_PLUGINS": "tests.plugins", "PYTHONPATH": str(ROOT)}


def oxify_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "oxify.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_env(),
    )


def _pipeline(tag: str, slow: float, last: str = "{{b}}!") -> Any:
    return counted_chain(tag, slow, last)


def _until(check: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def test_sigkilled_run_resumes_with_the_same_outputs(tmp_path: Path, redis_db: Any):
    tag = uuid.uuid4().hex
    path = tmp_path / "pipeline.json"
    oxify.save_workflow(_pipeline(tag, slow=1.5), path)
    reference = oxify.Engine(registry=registry_with_plugins()).run(
        _pipeline(uuid.uuid4().hex, slow=0), {"x": 1}
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "oxify.cli",
            "run",
            str(path),
            "-i",
            "x=1",
            "--json",
            "--checkpoint",
            "every_n_nodes:1",
        ],
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    _until(lambda: "b" in tally(tag))
    os.killpg(proc.pid, signal.SIGKILL)  # no chance to save anything more
    proc.wait(timeout=10)
    state = Path(os.environ["OXIFY_STATE_DIR"])
    (eid,) = [
        d.name
        for d in state.iterdir()
        if (d / "checkpoints").is_dir()
        and json.loads((d / "execution.json").read_text())["source"] == str(path)
    ]
    listed = oxify_cli("checkpoints", eid, "--json")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)[-1]["succeeded"] >= 2  # start and a
    resumed = oxify_cli("resume", eid, "--json")
    assert resumed.returncode == 0, resumed.stderr
    result = json.loads(resumed.stdout)
    assert result["state"] == "completed"
    assert result["outputs"] == reference.outputs == {"result": "1-a+b!"}
    marks = tally(tag)
    assert marks.count("a") == 1  # recorded before the kill, reused after it
    assert marks.count("b") == 2  # killed half-way, run again
    assert marks.count("c") == 1


def test_replay_from_the_command_line(tmp_path: Path, redis_db: Any):
    tag = uuid.uuid4().hex
    path = tmp_path / "pipeline.json"
    oxify.save_workflow(_pipeline(tag, slow=0), path)
    first = oxify_cli("run", str(path), "-i", "x=1", "--json")
    assert first.returncode == 0, first.stderr
    eid = json.loads(first.stdout)["execution_id"]
    again = oxify_cli("replay", eid, "--from", "b", "-i", "x=2", "--json")
    assert again.returncode == 0, again.stderr
    result = json.loads(again.stdout)
    assert result["execution_id"] != eid
    assert result["outputs"] == {"result": "1-a+b!"}
    assert tally(tag).count("a") == 1 and tally(tag).count("b") == 2
    missing = oxify_cli("replay", eid, "--from", "nope")
    assert missing.returncode == 1
    assert "no node 'nope'" in missing.stderr and "Traceback" not in missing.stderr


def test_resuming_with_a_changed_file_needs_allow_changed(tmp_path: Path, redis_db: Any):
    tag = uuid.uuid4().hex
    path = tmp_path / "pipeline.json"
    wf = _pipeline(tag, slow=0)
    nodes = [n.model_dump(by_alias=True) for n in wf.nodes]
    for n in nodes:
        if n["id"] == "b":
            n["kind"] = custom("oxify.fail", message="broken", retryable=False)
    broken = oxify.Workflow.model_validate({**wf.model_dump(by_alias=True), "nodes": nodes})
    oxify.save_workflow(broken, path)
    first = oxify_cli("run", str(path), "-i", "x=1", "--json")
    assert first.returncode == 1
    eid = json.loads(first.stdout)["execution_id"]
    oxify.save_workflow(wf, path)  # the fix
    refused = oxify_cli("resume", eid)
    assert refused.returncode == 1
    assert "pinned to workflow definition" in refused.stderr
    assert "--allow-changed" in refused.stderr
    fixed = oxify_cli("resume", eid, "--allow-changed", "--json")
    assert fixed.returncode == 0, fixed.stderr
    assert json.loads(fixed.stdout)["outputs"] == {"result": "1-a+b!"}
    assert tally(tag).count("a") == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["pause", "local-one"], "no process runs it now"),
        (["cancel", "local-one"], "no process runs it now"),
        (["checkpoints", "nope", "--redis-url", "redis://127.0.0.1:1/0"], "cannot reach Redis"),
    ],
)
def test_durable_commands_fail_clearly(args: list[str], message: str, tmp_path: Path):
    state = Path(os.environ["OXIFY_STATE_DIR"]) / "local-one"
    state.mkdir(parents=True, exist_ok=True)
    (state / "execution.json").write_text(
        json.dumps(
            {
                "execution_id": "local-one",
                "workflow": {},
                "library": {},
                "workflow_hash": "h",
                "inputs": {},
                "config": {},
                "source": None,
            }
        )
    )
    done = oxify_cli(*args)
    assert done.returncode != 0
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def _started(path: Path) -> str:
    """The id of the embedded execution started from ``path`` (in the state directory)."""
    state = Path(os.environ["OXIFY_STATE_DIR"])
    found: list[str] = []

    def look() -> bool:
        for d in state.iterdir():
            saved = d / "execution.json"
            if saved.is_file() and json.loads(saved.read_text())["source"] == str(path):
                found.append(d.name)
                return True
        return False

    _until(look)
    return found[0]


def test_pause_resume_and_cancel_reach_a_running_embedded_execution(tmp_path: Path, redis_db: Any):
    tag = uuid.uuid4().hex
    wf = build(
        {
            "start": START,
            "a": custom("test.count", tally=tag, mark="a", seconds=1.2),
            "b": custom("test.count", tally=tag, mark="b"),
            "end": {"type": "End"},
        },
        "start>a, a>b, b>end",
    )
    path = tmp_path / "two.json"
    oxify.save_workflow(wf, path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "oxify.cli", "run", str(path), "--json"],
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    eid = _started(path)
    _until(lambda: tally(tag) == ["a"])
    paused = oxify_cli("pause", eid)
    assert paused.returncode == 0, paused.stderr
    assert "pause requested" in paused.stdout
    time.sleep(1.5)  # a finishes; b is held
    assert tally(tag) == ["a"]
    assert proc.poll() is None
    resumed = oxify_cli("resume", eid)
    assert resumed.returncode == 0, resumed.stderr
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert json.loads(out)["state"] == "completed"
    assert tally(tag) == ["a", "b"]

    slow = tmp_path / "slow.json"
    oxify.save_workflow(
        build(
            {"start": START, "s": custom("oxify.sleep", seconds=30), "end": END}, "start>s, s>end"
        ),
        slow,
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "oxify.cli", "run", str(slow), "--json"],
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    eid = _started(slow)
    cancelled = oxify_cli("cancel", eid)
    assert cancelled.returncode == 0, cancelled.stderr
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert json.loads(out)["state"] == "cancelled"
