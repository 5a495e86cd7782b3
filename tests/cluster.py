"""A real distributed cluster for tests: Redis (a dedicated database), an orchestrator and
worker processes started as subprocesses, exactly as an operator would start them."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

ROOT = Path(__file__).resolve().parents[1]
TEST_REDIS_URL = os.environ.get("OXIFY_TEST_REDIS_URL", "redis://127.0.0.1:6379/14")


def cluster_env(url: str = TEST_REDIS_URL, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "OXIFY_REDIS_URL": url,
            "OXIFY_PLUGINS": "tests.plugins",
            "OXIFY_LEASE": "2",
            "OXIFY_STALL_AFTER": "0.3",
            "OXIFY_RECONCILE_INTERVAL": "0.2",
            "OXIFY_DISPATCH_TIMEOUT": "5",
            "OXIFY_VISIBILITY_TIMEOUT": "60",
            "PYTHONPATH": str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
        }
    )
    env.update(extra)
    return env


@dataclass
class Cluster:
    url: str = TEST_REDIS_URL
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    logs: dict[str, Path] = field(default_factory=dict)
    log_dir: Path = Path("/tmp")

    def start(
        self, name: str, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """Start ``oxify <args>`` as a subprocess in its own session (so it can be killed
        as a whole), logging to a file."""
        log = self.log_dir / f"oxify-{name}.log"
        handle = log.open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "oxify.cli", *args, "--loglevel", "warning"],
            cwd=ROOT,
            env=env or cluster_env(self.url),
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes[name] = proc
        self.logs[name] = log
        return proc

    def wait_ready(self, names: list[str], timeout: float = 60.0) -> None:
        """Until every named worker answers a Celery ping."""
        from oxify.config import Settings
        from workers.app import make_app

        app = make_app(Settings.from_env(self.url))
        deadline = time.monotonic() + timeout
        wanted = set(names)
        while time.monotonic() < deadline:
            for name, proc in self.processes.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited: {self.logs[name].read_text()[-2000:]}")
            replies = app.control.ping(timeout=0.5) or []
            seen = {next(iter(r)).split("@", 1)[0] for r in replies}
            if wanted <= seen:
                return
        raise RuntimeError(f"workers {wanted} not ready after {timeout} s")

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.processes.pop(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        proc.wait(timeout=30)

    def stop(self) -> None:
        for name in list(self.processes):
            proc = self.processes[name]
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                self.kill(name)
                continue
            self.processes.pop(name)


def empty_database(url: str) -> Any:
    """A client on the test database; refuses to use one that holds data already."""
    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        # scratch keys of the test plugins (tests/plugins.py) are ours: embedded-only runs
        # leave them behind without ever starting the cluster that would empty the database
        scratch = list(client.scan_iter("oxify-test:*"))
        if scratch:
            client.delete(*scratch)
        size = client.dbsize()
    except redis.ConnectionError as e:
        raise RuntimeError(f"the tests need Redis at {url}: {e}") from e
    if size:
        raise RuntimeError(
            f"refusing to run: Redis database {url} is not empty ({size} keys); "
            "set OXIFY_TEST_REDIS_URL to an empty database"
        )
    return client
