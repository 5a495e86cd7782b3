"""Ctrl-C during ``oxify run`` cancels the execution cleanly (no traceback)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import oxify
from tests.support import END, START, build, custom

ROOT = Path(__file__).resolve().parents[2]


def test_sigint_cancels_the_run(tmp_path: Path):
    wf = build(
        {"start": START, "slow": custom("oxify.sleep", seconds=30), "end": END},
        "start>slow, slow>end",
    )
    path = tmp_path / "slow.json"
    oxify.save_workflow(wf, path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "oxify.cli", "run", str(path), "--progress"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    first = proc.stderr.readline()  # "ok start": the slow node is about to run
    assert "start" in first
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert time.monotonic() - started < 10
    assert proc.returncode == 1, err
    assert "Traceback" not in err
    assert "cancel" in err  # the progress line of the stopped node
    assert ": cancelled" in out.splitlines()[0]
    assert "error: interrupted" in out
