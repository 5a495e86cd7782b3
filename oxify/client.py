"""The producer API of distributed mode: submit workflows, follow and control executions.

>>> client = oxify.Client("redis://127.0.0.1:6379/0")             # doctest: +SKIP
>>> eid = client.submit("examples/diamond.json", {"x": 3})        # doctest: +SKIP
>>> client.wait(eid, timeout=30).outputs                           # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import redis

from oxify import events as ev
from oxify.config import Settings
from oxify.engine.loading import load_definition
from oxify.engine.options import ExecutionConfig
from oxify.engine.results import ExecutionResult
from oxify.errors import ConfigError, ExecutionError
from oxify.events import Event
from oxify.model.workflow import Workflow
from oxify.runtime.dispatch import Dispatcher
from oxify.runtime.hooks import Hooks
from oxify.runtime.runtime import Runtime, RuntimeOptions
from oxify.store.redis import RedisStore, StoreUnavailable

TERMINAL_EVENTS = frozenset({ev.WORKFLOW_COMPLETED, ev.WORKFLOW_FAILED, ev.WORKFLOW_CANCELLED})


@contextlib.contextmanager
def _redis_errors(store: RedisStore) -> Iterator[None]:
    try:
        yield
    except redis.AuthenticationError as e:
        raise StoreUnavailable(f"Redis at {store.safe_url} refused the credentials: {e}") from e
    except (redis.ConnectionError, redis.TimeoutError) as e:
        raise StoreUnavailable(f"cannot reach Redis at {store.safe_url}: {e}") from e


class Client:
    """Talks to Redis (state) and the Celery broker (to start executions).

    ``redis_url`` defaults to ``OXIFY_REDIS_URL`` (then ``redis://127.0.0.1:6379/0``); the
    broker follows ``OXIFY_BROKER_URL`` or the same URL. An unreachable Redis raises
    :class:`~oxify.store.redis.StoreUnavailable` with a one-line message. ``hooks``
    see the events this producer writes (each process's hooks see the events it writes).
    """

    def __init__(
        self,
        redis_url: str | None = None,
        *,
        settings: Settings | None = None,
        dispatcher: Dispatcher | None = None,
        hooks: Hooks | None = None,
    ) -> None:
        self.settings = settings or Settings.from_env(redis_url)
        self.store = RedisStore(self.settings.redis_url)
        self.store.ping()
        if dispatcher is None:
            from oxify.distributed.app import make_app
            from oxify.distributed.dispatcher import CeleryDispatcher

            dispatcher = CeleryDispatcher(make_app(self.settings))
        s = self.settings
        self.runtime = Runtime(
            self.store,
            dispatcher,
            hooks=hooks,
            options=RuntimeOptions(
                result_ttl=s.result_ttl, lease=s.lease, dispatch_timeout=s.dispatch_timeout
            ),
        )
        self._producer = self.runtime.producer

    def submit(
        self,
        workflow: Workflow | str | Path,
        inputs: Mapping[str, Any] | None = None,
        config: ExecutionConfig | None = None,
        *,
        idempotency_key: str | None = None,
        base_dir: str | Path | None = None,
        **options: Any,
    ) -> str:
        """Validate and submit; returns the execution id. The same ``idempotency_key``
        twice returns the same execution. An invalid workflow raises
        :class:`~oxify.errors.ValidationError` listing every problem, and stores nothing.
        Sub-workflow files are read now (relative to ``base_dir``, by default the workflow
        file's directory) and stored with the execution: workers never read them."""
        if config is not None and options:
            raise ConfigError("pass either config= or keyword options, not both")
        cfg = config if config is not None else ExecutionConfig.make(**options)
        definition = load_definition(workflow, base_dir)
        with _redis_errors(self.store):
            eid, _ = self._producer.submit(
                definition,
                inputs,
                cfg,
                execution_id=str(uuid.uuid4()),
                idempotency_key=idempotency_key,
            )
        return eid

    def get(self, execution_id: str) -> ExecutionResult:
        """The execution now: state, outputs, every node (running or not)."""
        with _redis_errors(self.store):
            return self._producer.result(execution_id)

    def events(
        self,
        execution_id: str,
        from_cursor: str | None = None,
        *,
        follow: bool = True,
        timeout: float | None = None,
    ) -> Iterator[Event]:
        """The execution's events after ``from_cursor`` (from the first when None). With
        ``follow``, keeps waiting for new ones until the execution ends (``TimeoutError``
        after ``timeout`` seconds without one). Each event carries its ``cursor``."""
        cursor = from_cursor
        idle_since = time.monotonic()
        while True:
            with _redis_errors(self.store):
                batch = self.store.events(execution_id, cursor, block=1.0 if follow else None)
            if not batch:
                if not follow:
                    return
                if self._finished(execution_id):
                    with _redis_errors(self.store):
                        batch = self.store.events(execution_id, cursor)
                    if not batch:
                        return
                elif timeout is not None and time.monotonic() - idle_since > timeout:
                    raise TimeoutError(f"no event from execution {execution_id} for {timeout} s")
                else:
                    continue
            idle_since = time.monotonic()
            ended = False
            for event in batch:
                cursor = event.cursor
                yield event
                ended = event.type in TERMINAL_EVENTS
            # an end event is the end unless the execution was resumed after it
            if follow and ended and self._finished(execution_id):
                with _redis_errors(self.store):
                    if not self.store.events(execution_id, cursor, count=1):
                        return

    def wait(self, execution_id: str, timeout: float | None = None) -> ExecutionResult:
        """Block until the execution ends; ``TimeoutError`` if it does not in ``timeout``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        cursor: str | None = None
        while not self._finished(execution_id):
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise TimeoutError(f"execution {execution_id} still running after {timeout} s")
            block = min(1.0, left) if left is not None else 1.0
            with _redis_errors(self.store):
                # wake on any event after the last one seen (the first read returns those
                # already there); the state is checked again after every wake-up
                batch = self.store.events(execution_id, cursor, block=block)
            if batch:
                cursor = batch[-1].cursor
        return self.get(execution_id)

    def cancel(self, execution_id: str, reason: str = "cancelled by request") -> None:
        """Cancel: queued nodes never start, running ones are told to stop."""
        with _redis_errors(self.store):
            self._producer.cancel(execution_id, reason)

    def pause(self, execution_id: str, reason: str = "requested") -> None:
        """Pause: no new node starts (queued ones are held); running ones finish."""
        with _redis_errors(self.store):
            self._producer.pause(execution_id, reason)

    def resume(
        self,
        execution_id: str,
        *,
        checkpoint: str | None = None,
        workflow: Workflow | str | Path | None = None,
        allow_changed: bool = False,
        base_dir: str | Path | None = None,
    ) -> None:
        """A paused execution goes on; a failed or cancelled one continues from its newest
        checkpoint (or ``checkpoint``): nodes that succeeded keep their outputs. With
        ``workflow``, its definition must be the one the execution is pinned to, unless
        ``allow_changed`` (then nodes whose definition changed run again)."""
        definition = None if workflow is None else load_definition(workflow, base_dir)
        with _redis_errors(self.store):
            self._producer.resume(
                execution_id,
                checkpoint=checkpoint,
                definition=definition,
                allow_changed=allow_changed,
            )

    def replay(
        self,
        execution_id: str,
        from_node: str,
        inputs: Mapping[str, Any] | None = None,
        *,
        checkpoint: str | None = None,
        workflow: Workflow | str | Path | None = None,
        allow_changed: bool = False,
        base_dir: str | Path | None = None,
    ) -> str:
        """Start a new execution that reuses the recorded output of every node not
        downstream of ``from_node`` (id or name) and runs the rest again; ``inputs``
        update the recorded inputs. Returns the new execution's id."""
        definition = None if workflow is None else load_definition(workflow, base_dir)
        with _redis_errors(self.store):
            return self._producer.replay(
                execution_id,
                from_node,
                inputs,
                checkpoint=checkpoint,
                definition=definition,
                allow_changed=allow_changed,
                new_execution_id=str(uuid.uuid4()),
            )

    def checkpoints(self, execution_id: str) -> list[dict[str, Any]]:
        """Summaries of the execution's checkpoints, oldest first."""
        with _redis_errors(self.store):
            return self._producer.checkpoints(execution_id)

    def list(
        self, state: str | None = None, limit: int = 100, *, include_children: bool = False
    ) -> list[dict[str, Any]]:
        """Recent executions, newest first (``execution_id``, ``state``, ``created_at``,
        ``workflow``, ``parent``), optionally only those in ``state``; the child executions
        of composite nodes only with ``include_children``."""
        with _redis_errors(self.store):
            return [row.to_dict() for row in self.store.recent(state, limit, include_children)]

    def _finished(self, execution_id: str) -> bool:
        with _redis_errors(self.store):
            state, _ = self.store.status(execution_id)
        if state is None:
            raise ExecutionError(f"no execution with id {execution_id}")
        return state in ("completed", "failed", "cancelled")
