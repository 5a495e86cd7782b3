"""Orchestrator tasks (queue ``oxify.orchestrator``): they drive the engine's state machine."""

from __future__ import annotations

from workers.app import app
from workers.runtime import coordinator


@app.task(name="oxify.start")
def start(execution_id: str) -> None:
    """Start a submitted execution: its first level (or ready nodes) is dispatched."""
    coordinator().drive(execution_id)


@app.task(name="oxify.level_done")
def level_done(execution_id: str, level: int) -> None:
    """Chord callback: the nodes of a level finished; drive the execution on."""
    coordinator().drive(execution_id)
