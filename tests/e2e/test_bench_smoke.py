"""The benchmark still runs (tiny sizes): benchmarks are not tests, but they must not rot."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_engine_overhead_benchmark_runs():
    proc = subprocess.run(
        [sys.executable, "bench/engine_overhead.py", "--nodes", "30", "--repeat", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    for shape in ("wide", "deep", "random"):
        for mode in ("levels", "dataflow"):
            assert any(line.split()[:3] == [shape, mode, "threaded"] for line in lines)
    assert "geometric mean" in lines[-1]


def test_composite_fanout_benchmark_runs():
    import redis

    from tests.cluster import TEST_REDIS_URL

    url = TEST_REDIS_URL.rsplit("/", 1)[0] + "/12"
    if redis.Redis.from_url(url).dbsize():
        import pytest

        pytest.skip(f"{url} is not empty; the benchmark needs an empty database")
    proc = subprocess.run(
        [
            sys.executable,
            "bench/composite_fanout.py",
            "--sizes",
            "4",
            "--repeat",
            "1",
            "--redis-url",
            url,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    last = proc.stdout.splitlines()[-1].split()
    assert last[0] == "4" and last[-1].endswith("x")
