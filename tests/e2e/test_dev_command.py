"""``oxify dev``: an orchestrator and every pool in one process, for local development."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

from tests.cluster import ROOT, cluster_env


def test_oxify_dev_runs_workflows(redis_db, cluster):
    # the session cluster shares this database; `dev` consumes every pool queue too
    env = cluster_env(cluster.url)
    dev = subprocess.Popen(
        [sys.executable, "-m", "oxify.cli", "dev", "--concurrency", "4", "--loglevel", "warning"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        cluster.wait_ready(["dev"])
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "oxify.cli",
                "run",
                "examples/if_else.json",
                "--distributed",
                "--json",
                "-i",
                "name=Ada",
                "-i",
                "score=70",
                "-i",
                "disqualified=false",
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert run.returncode == 0, run.stderr
        doc = json.loads(run.stdout)
        assert doc["outputs"] == {"report": {"name": "Ada", "passed": True, "branch": "pass"}}
    finally:
        os.killpg(dev.pid, signal.SIGTERM)
        dev.wait(timeout=30)
