"""Terminal progress for ``oxify run``: one line per node, and a live bar on a terminal."""

from __future__ import annotations

import shutil
import time
from typing import TextIO

from oxify import events as ev
from oxify.events import Event
from oxify.model.workflow import Workflow

_MARKS = {
    ev.NODE_COMPLETED: "ok  ",
    ev.NODE_FAILED: "FAIL",
    ev.NODE_SKIPPED: "skip",
    ev.NODE_RETRY: "retry",
    ev.NODE_CANCELLED: "cancel",
}


class Progress:
    """Prints node events as they happen; with ``live``, redraws a progress bar below them."""

    def __init__(self, total: int, stream: TextIO, *, live: bool) -> None:
        self.stream = stream
        self.live = live
        self.total = total
        self.done = 0
        self.level = ""
        self._bar_shown = False
        self._last_draw = 0.0

    @classmethod
    def for_workflow(cls, workflow: Workflow, stream: TextIO, *, live: bool) -> Progress:
        return cls(len(workflow.nodes), stream, live=live)

    def on_event(self, event: Event) -> None:
        data = event.data
        if event.type in _MARKS:
            if event.type in (ev.NODE_COMPLETED, ev.NODE_FAILED, ev.NODE_SKIPPED):
                self.done += 1
            detail = ""
            if event.type == ev.NODE_COMPLETED and data.get("duration_ms") is not None:
                detail = f"  {data['duration_ms']:.0f} ms"
                if data.get("attempts", 1) > 1:
                    detail += f" ({data['attempts']} attempts)"
            elif event.type == ev.NODE_FAILED:
                detail = f"  {data.get('error')}"
            elif event.type == ev.NODE_SKIPPED:
                detail = f"  ({data.get('reason')})"
            elif event.type == ev.NODE_RETRY:
                detail = (
                    f"  attempt {data['attempt']} failed, retrying in {data['delay']:.2f} s: "
                    f"{data['error']}"
                )
            self._line(f"  {_MARKS[event.type]:<6} {data.get('name')}{detail}")
        elif event.type == ev.LEVEL_STARTED:
            self.level = f"level {data['level']}"
            self._draw(force=False)
        elif event.type in (ev.WORKFLOW_COMPLETED, ev.WORKFLOW_FAILED, ev.WORKFLOW_CANCELLED):
            self._draw(force=True)

    def close(self) -> None:
        if self.live and self._bar_shown:
            self.stream.write("\n")
            self.stream.flush()
            self._bar_shown = False

    def _line(self, text: str) -> None:
        if self.live and self._bar_shown:
            self.stream.write("\r\x1b[2K")
        self.stream.write(text + "\n")
        self._bar_shown = False
        self._draw(force=False)

    def _draw(self, *, force: bool) -> None:
        if not self.live:
            return
        now = time.monotonic()
        if not force and self._bar_shown and now - self._last_draw < 0.05:
            return
        self._last_draw = now
        width = max(10, min(40, shutil.get_terminal_size((80, 20)).columns - 40))
        filled = int(width * self.done / self.total) if self.total else width
        bar = "#" * filled + "." * (width - filled)
        self.stream.write(f"\r\x1b[2K[{bar}] {self.done}/{self.total} nodes  {self.level}")
        self.stream.flush()
        self._bar_shown = True
