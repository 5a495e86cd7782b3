"""Events of embedded executions, delivered in order.

Several threads write an execution's events (the driver commits, node runners claim); the
store numbers them. Hooks and ``on_event`` callbacks must see them in that order, one at a
time: whichever thread publishes first becomes the execution's *feed* and delivers every
event the store holds past its cursor, until there is none left; a thread that publishes
meanwhile only marks the feed to look again. When the feed has delivered an execution's
terminal event, :meth:`OrderedDelivery.wait` returns.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from oxify import events as ev
from oxify.events import Event
from oxify.runtime.hooks import Hooks
from oxify.store.memory import MemoryStore

log = logging.getLogger("oxify")

EventCallback = Callable[[Event], None]
TERMINAL = frozenset({ev.WORKFLOW_COMPLETED, ev.WORKFLOW_FAILED, ev.WORKFLOW_CANCELLED})
RESTARTS = frozenset({ev.WORKFLOW_STARTED, ev.WORKFLOW_RESUMED})
"""An execution that ended goes on after these (a resume)."""
KEEP_ENDED = 1000
"""Feeds of ended executions kept (their cursor and callback, for a resume)."""


@dataclass(slots=True)
class _Feed:
    cursor: str | None = None
    callback: EventCallback | None = None
    busy: bool = False
    dirty: bool = False
    ended: bool = False
    """The last event delivered ends the execution."""


class OrderedDelivery:
    """The :class:`~oxify.runtime.dispatch.EventSink` of the embedded body."""

    def __init__(
        self, store: MemoryStore, hooks: Hooks, on_end: Callable[[str], None] | None = None
    ) -> None:
        self.store = store
        self.hooks = hooks
        self.on_end = on_end
        self._cond = threading.Condition()
        self._feeds: dict[str, _Feed] = {}
        self._ended: OrderedDict[str, None] = OrderedDict()
        self._quiet = type(hooks).on_event is Hooks.on_event  # nobody to tell

    def follow(
        self, execution_id: str, callback: EventCallback | None, after: str | None = None
    ) -> None:
        """Deliver the events of ``execution_id`` after cursor ``after`` (all when None)
        to ``callback`` too (from now on: a resume keeps its cursor)."""
        with self._cond:
            feed = self._feeds.get(execution_id)
            if feed is None:
                feed = self._feeds[execution_id] = _Feed(cursor=after)
            feed.callback = callback
            feed.ended = False
            self._ended.pop(execution_id, None)

    def published(self, execution_id: str, events: Sequence[Event]) -> None:
        with self._cond:
            feed = self._feeds.get(execution_id)
            if feed is None:
                feed = self._feeds[execution_id] = _Feed()
            if feed.busy:
                feed.dirty = True
                return
            pumping = not self._quiet or feed.callback is not None
            if pumping:
                feed.busy = True
            else:  # nobody listens: only the end counts
                ended = self._note(execution_id, feed, events)
        if not pumping:
            if ended and self.on_end is not None:
                self.on_end(execution_id)
            return
        ended = False
        try:
            ended = self._pump(execution_id, feed)
        finally:
            with self._cond:
                feed.busy = False
                self._cond.notify_all()
        if ended and self.on_end is not None:
            self.on_end(execution_id)

    def _pump(self, execution_id: str, feed: _Feed) -> bool:
        """Deliver until nothing is left; whether the execution's end was delivered now."""
        while True:
            batch = self.store.events(execution_id, feed.cursor, count=10_000)
            ended = feed.ended
            for event in batch:
                self._deliver(feed, event)
                if event.type in TERMINAL:
                    ended = True
                elif event.type in RESTARTS:
                    ended = False
            with self._cond:
                if batch:
                    feed.cursor = batch[-1].cursor
                    feed.ended = ended
                    continue
                if feed.dirty:
                    feed.dirty = False
                    continue
                if feed.ended and execution_id not in self._ended:
                    self._end(execution_id)
                    return True
                return False

    def _note(self, execution_id: str, feed: _Feed, events: Sequence[Event]) -> bool:
        """Follow an execution's end from the events published (under the lock); whether
        they end it."""
        ended = feed.ended
        for event in events:
            if event.type in TERMINAL:
                ended = True
            elif event.type in RESTARTS:
                ended = False
        feed.ended = ended
        if events:
            feed.cursor = events[-1].cursor
        if ended and execution_id not in self._ended:
            self._end(execution_id)
            self._cond.notify_all()
            return True
        return False

    def _deliver(self, feed: _Feed, event: Event) -> None:
        if self._quiet and feed.callback is None:
            return
        for callback in (feed.callback, None if self._quiet else self.hooks.on_event):
            if callback is None:
                continue
            try:
                callback(event)
            except Exception:
                log.exception("on_event callback failed for %s", event.type)

    def _end(self, execution_id: str) -> None:
        self._ended[execution_id] = None
        while len(self._ended) > KEEP_ENDED:
            old, _ = self._ended.popitem(last=False)
            self._feeds.pop(old, None)

    def wait(self, execution_id: str, timeout: float | None = None) -> bool:
        """Until the execution's terminal event was delivered; False after ``timeout``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                feed = self._feeds.get(execution_id)
                if feed is not None and feed.ended and not feed.busy:
                    return True
                if feed is None and self._ended_long_ago(execution_id):
                    return True  # its feed is forgotten
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(left if left is not None else 1.0)

    def _ended_long_ago(self, execution_id: str) -> bool:
        state, _ = self.store.status(execution_id)
        return state in ("completed", "failed", "cancelled")

    def ended(self, execution_id: str) -> bool:
        with self._cond:
            feed = self._feeds.get(execution_id)
            return feed is not None and feed.ended and not feed.busy
