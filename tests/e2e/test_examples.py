"""The examples of the README do what it says (the composite ones; durable.yaml is slow on
purpose and only validated, by test_cli.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "oxify.cli", "run", *args, "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def test_foreach_parallel_example():
    result = run("examples/foreach_parallel.yaml", "-i", 'topics=["redis","celery","wasm","mcp"]')
    report = result["outputs"]["report"]
    assert report["count"] == 4
    assert [o["title"] for o in report["outlines"]] == ["REDIS", "CELERY", "WASM", "MCP"]
    assert report["outlines"][1] == {"n": 1, "title": "CELERY", "notes": "notes on celery"}


def test_try_catch_example():
    answer = run("examples/try_catch.yaml")["outputs"]["answer"]
    assert answer["handled"] is True
    assert answer["result"].startswith("fallback used because: node fetch failed")
    assert answer["cleanup"] == "connections closed"


def test_subworkflow_example():
    result = run("examples/subworkflow.yaml", "-i", "text=Celery runs tasks", "-i", "max_words=3")
    assert result["outputs"] == {
        "answer": "summary: Celery runs tasks (17 characters, at most 3 words asked)"
    }


def test_subworkflow_example_distributed(client):
    eid = client.submit(ROOT / "examples" / "subworkflow.yaml", {"text": "abc", "max_words": 1})
    result = client.wait(eid, timeout=60)
    assert result.ok, result.error
    assert result.outputs == {"answer": "summary: abc (3 characters, at most 1 words asked)"}
