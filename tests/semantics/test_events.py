"""Event order and payloads."""

from __future__ import annotations

import oxify
from oxify import events as ev
from tests.support import END, START, build, custom, if_else, value


def _types(events):
    return [e.type for e in events]


def test_levels_mode_event_order():
    wf = build(
        {"start": START, "a": value(1), "b": value(2), "end": END}, "start>a, start>b, a>end, b>end"
    )
    events: list[oxify.Event] = []
    result = oxify.Engine().run(wf, on_event=events.append)
    assert [e.seq for e in events] == list(range(len(events)))
    assert all(e.execution_id == result.execution_id for e in events)
    types = _types(events)
    assert types[0] == ev.WORKFLOW_STARTED and types[-1] == ev.WORKFLOW_COMPLETED
    # level by level: started, its nodes, completed, progress
    levels = [(e.type, e.data.get("level")) for e in events if e.type.startswith("level.")]
    assert levels == [
        (ev.LEVEL_STARTED, 0),
        (ev.LEVEL_COMPLETED, 0),
        (ev.LEVEL_STARTED, 1),
        (ev.LEVEL_COMPLETED, 1),
        (ev.LEVEL_STARTED, 2),
        (ev.LEVEL_COMPLETED, 2),
    ]
    level1 = types.index(ev.LEVEL_STARTED, types.index(ev.LEVEL_COMPLETED))
    level1_end = types.index(ev.LEVEL_COMPLETED, level1)
    inside = [e for e in events[level1:level1_end] if e.type.startswith("node.")]
    assert sorted((e.type, e.data["node_id"]) for e in inside) == [
        (ev.NODE_COMPLETED, "a"),
        (ev.NODE_COMPLETED, "b"),
        (ev.NODE_STARTED, "a"),
        (ev.NODE_STARTED, "b"),
    ]
    for node_id in ("start", "a", "b", "end"):
        assert (
            types.index(ev.NODE_STARTED)
            <= _index(events, ev.NODE_STARTED, node_id)
            < _index(events, ev.NODE_COMPLETED, node_id)
        )
    progress = [e.data for e in events if e.type == ev.PROGRESS_UPDATE]
    assert progress[-1] == {
        "completed_nodes": 4,
        "total_nodes": 4,
        "completed_levels": 3,
        "total_levels": 3,
    }
    assert events[-1].data["completed_nodes"] == 4
    assert events[0].data == {"workflow_name": "test", "total_nodes": 4, "mode": "levels"}


def _index(events, type_, node_id):
    return next(
        i for i, e in enumerate(events) if e.type == type_ and e.data.get("node_id") == node_id
    )


def test_dataflow_mode_events_have_progress_per_node_and_no_levels():
    wf = build({"start": START, "a": value(1), "end": END}, "start>a, a>end")
    events: list[oxify.Event] = []
    oxify.Engine().run(wf, mode="dataflow", on_event=events.append)
    types = _types(events)
    assert not [t for t in types if t.startswith("level.")]
    assert [e.data["completed_nodes"] for e in events if e.type == ev.PROGRESS_UPDATE] == [1, 2, 3]


def test_skip_retry_and_failure_events():
    wf = build(
        {
            "start": START,
            "c": if_else("false", "t", "f"),
            "t": value("t"),
            "f": custom("oxify.fail", message="bad", times=1, output="ok"),
            "end": END,
        },
        "start>c, c>t, c>f, t>end, f>end",
        f={
            "retry_config": {
                "max_retries": 1,
                "initial_delay_ms": 1,
                "backoff_multiplier": 1.0,
                "max_delay_ms": 1,
            }
        },
    )
    events: list[oxify.Event] = []
    oxify.Engine().run(wf, on_event=events.append)
    skipped = [e.data for e in events if e.type == ev.NODE_SKIPPED]
    assert skipped == [{"node_id": "t", "name": "t", "reason": "branch_not_taken"}]
    retry = [e.data for e in events if e.type == ev.NODE_RETRY]
    assert len(retry) == 1 and retry[0]["attempt"] == 1 and retry[0]["error"] == "bad"
    f_events = [e.type for e in events if e.data.get("node_id") == "f"]
    assert f_events == [ev.NODE_STARTED, ev.NODE_RETRY, ev.NODE_STARTED, ev.NODE_COMPLETED]


def test_failed_workflow_events():
    wf = build(
        {"start": START, "f": custom("oxify.fail", message="kaput"), "end": END}, "start>f, f>end"
    )
    events: list[oxify.Event] = []
    oxify.Engine().run(wf, on_event=events.append)
    failed = [e for e in events if e.type == ev.NODE_FAILED]
    assert failed[0].data["error"] == "kaput"
    assert events[-1].type == ev.WORKFLOW_FAILED
    assert "kaput" in events[-1].data["error"]


def test_execution_events_iterator_and_hooks():
    seen: list[str] = []
    calls: list[tuple[str, str]] = []

    class Recording(oxify.Hooks):
        def on_event(self, event):
            seen.append(event.type)

        def before_node(self, ctx):
            calls.append(("before", ctx.node.id))

        def after_node(self, ctx, output, error):
            calls.append(("after", ctx.node.id))

    wf = build({"start": START, "a": value(1), "end": END}, "start>a, a>end")
    execution = oxify.Engine(hooks=Recording()).start(wf)
    streamed = [e.type for e in execution.events(timeout=5)]
    assert execution.wait(5).ok
    assert streamed == seen
    assert streamed[-1] == ev.WORKFLOW_COMPLETED
    assert calls == [
        ("before", "start"),
        ("after", "start"),
        ("before", "a"),
        ("after", "a"),
        ("before", "end"),
        ("after", "end"),
    ]


def test_a_failing_event_callback_does_not_break_the_run():
    def explode(event):
        raise RuntimeError("callback bug")

    wf = build({"start": START, "a": value(1), "end": END}, "start>a, a>end")
    assert oxify.Engine().run(wf, on_event=explode).ok
