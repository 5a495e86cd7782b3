"""Orchestrator tasks (queue ``oxify.orchestrator``): they drive executions."""

from __future__ import annotations

from oxify.distributed.services import runtime
from workers.app import app


@app.task(name="oxify.start")
def start(execution_id: str) -> None:
    """Drive an execution: a new one starts; one with news moves on."""
    runtime(app).driver.drive(execution_id)


@app.task(name="oxify.level_done")
def level_done(execution_id: str, level: int) -> None:
    """Chord callback: the nodes of a level finished; drive the execution on."""
    runtime(app).driver.drive(execution_id)
