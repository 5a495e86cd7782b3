"""Flower (``celery -A workers.app flower``) shows the pools, their queues and node tasks
with readable arguments."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from typing import Any

import oxify
from tests.cluster import ROOT, cluster_env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as reply:
        return json.loads(reply.read())


def test_flower_shows_pools_queues_and_node_tasks(cluster, client):
    port = _free_port()
    env = cluster_env(cluster.url, FLOWER_UNAUTHENTICATED_API="true")
    flower = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "workers.app",
            "flower",
            "--address=127.0.0.1",
            f"--port={port}",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                workers = _get(f"{base}/api/workers?refresh=1")
                if len(workers) >= 2:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "Flower did not come up"
            time.sleep(0.2)
        queues = {q["name"] for w in workers.values() for q in w.get("active_queues", [])}
        assert {"oxify.orchestrator", "oxify.control"} <= queues
        # Flower turns the workers' task events on (they are off by default) within seconds
        # of starting: run workflows until their tasks show up
        deadline = time.monotonic() + 60
        while True:
            eid = client.submit(oxify.load_workflow(ROOT / "examples" / "diamond.json"), {"x": 2})
            assert client.wait(eid, timeout=30).ok
            time.sleep(0.5)
            tasks = _get(f"{base}/api/tasks?limit=1000")
            mine = [t for t in tasks.values() if eid in str(t.get("args"))]
            if any(t["name"] == "oxify.run_node" for t in mine):
                break
            assert time.monotonic() < deadline, "no oxify.run_node task of ours in Flower"
        node_task = next(t for t in mine if t["name"] == "oxify.run_node")
        assert "'name': " in node_task["kwargs"] and "'kind': 'Custom'" in node_task["kwargs"]
        assert "result" not in node_task["args"]  # ids only: outputs never travel in messages
    finally:
        os.killpg(flower.pid, signal.SIGTERM)
        flower.wait(timeout=20)
