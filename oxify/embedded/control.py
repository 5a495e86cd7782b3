"""Control of an embedded execution from another process, through the state directory.

An embedded execution runs inside the ``oxify`` process that started it. While it runs, that
process keeps ``<state dir>/<execution id>/pid`` and watches ``control/`` there; ``oxify
pause|resume|cancel ID`` drops a request file into it (written atomically, one file per
request, applied in order) and waits for the running process to take it.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from pathlib import Path

ACTIONS = ("pause", "resume", "cancel")


class ControlChannel:
    """The running side: announce the process, take the requests sent to it."""

    def __init__(self, root: Path, execution_id: str) -> None:
        self.dir = root / execution_id
        self.inbox = self.dir / "control"

    def open(self) -> None:
        self.inbox.mkdir(parents=True, exist_ok=True)
        for stale in self.inbox.glob("*.req"):  # requests meant for an earlier process
            stale.unlink(missing_ok=True)
        (self.dir / "pid").write_text(str(os.getpid()), encoding="utf-8")

    def close(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            if (self.dir / "pid").read_text(encoding="utf-8") == str(os.getpid()):
                (self.dir / "pid").unlink()

    def take(self) -> list[str]:
        """The requests sent since the last call, oldest first."""
        if not self.inbox.is_dir():
            return []
        actions = []
        for path in sorted(self.inbox.glob("*.req")):
            with contextlib.suppress(FileNotFoundError, UnicodeDecodeError):
                action = path.read_text(encoding="utf-8").strip()
                path.unlink()
                if action in ACTIONS:
                    actions.append(action)
        return actions


def running_pid(root: Path, execution_id: str) -> int | None:
    """The pid of the live process running an embedded execution, if any."""
    try:
        pid = int((root / execution_id / "pid").read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid  # alive, another user's
    return pid


def send(root: Path, execution_id: str, action: str, timeout: float = 5.0) -> bool:
    """Ask the process running an embedded execution to ``action`` it; True once it took
    the request, False if no live process runs it or it did not answer in ``timeout``."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    if running_pid(root, execution_id) is None:
        return False
    inbox = root / execution_id / "control"
    inbox.mkdir(parents=True, exist_ok=True)
    name = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"
    tmp = inbox / f".{name}.tmp"
    tmp.write_text(action, encoding="utf-8")
    request = inbox / f"{name}.req"
    os.replace(tmp, request)
    deadline = time.monotonic() + timeout
    while request.exists():
        if time.monotonic() > deadline or running_pid(root, execution_id) is None:
            request.unlink(missing_ok=True)
            return False
        time.sleep(0.02)
    return True
