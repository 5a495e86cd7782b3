"""The control inbox of embedded executions (oxify pause|resume|cancel from another shell)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from oxify.embedded.control import ControlChannel, running_pid, send


def test_requests_reach_the_running_side_in_order(tmp_path: Path):
    channel = ControlChannel(tmp_path, "e1")
    channel.open()
    assert running_pid(tmp_path, "e1") == os.getpid()
    taken: list[str] = []

    def serve() -> None:
        deadline = time.monotonic() + 5
        while len(taken) < 3 and time.monotonic() < deadline:
            taken.extend(channel.take())
            time.sleep(0.01)

    server = threading.Thread(target=serve)
    server.start()
    assert send(tmp_path, "e1", "pause")
    assert send(tmp_path, "e1", "resume")
    assert send(tmp_path, "e1", "cancel")
    server.join()
    assert taken == ["pause", "resume", "cancel"]
    channel.close()
    assert running_pid(tmp_path, "e1") is None


def test_nobody_running_means_no_delivery(tmp_path: Path):
    assert not send(tmp_path, "ghost", "pause")
    (tmp_path / "dead").mkdir()
    (tmp_path / "dead" / "pid").write_text("999999999")  # no such process
    assert running_pid(tmp_path, "dead") is None
    assert not send(tmp_path, "dead", "cancel")


def test_an_unanswered_request_is_withdrawn(tmp_path: Path):
    channel = ControlChannel(tmp_path, "e2")
    channel.open()  # this process "runs" it but never takes requests
    assert not send(tmp_path, "e2", "pause", timeout=0.2)
    assert channel.take() == []  # the stale request was removed, not left to fire later


def test_requests_left_for_an_earlier_process_are_dropped(tmp_path: Path):
    inbox = tmp_path / "e3" / "control"
    inbox.mkdir(parents=True)
    (inbox / "0001.req").write_text("cancel")
    ControlChannel(tmp_path, "e3").open()
    assert list(inbox.glob("*.req")) == []


def test_unknown_actions_are_refused(tmp_path: Path):
    with pytest.raises(ValueError, match="unknown action"):
        send(tmp_path, "e4", "explode")
