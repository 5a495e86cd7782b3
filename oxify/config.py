"""Settings from ``OXIFY_*`` environment variables (distributed mode)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from oxify.errors import ConfigError
from oxify.runtime.hooks import HookChain, Hooks

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, got {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"{name} must be positive, got {raw!r}")
    return value


def _items(name: str) -> tuple[str, ...]:
    """A comma-separated environment variable as its non-empty items."""
    return tuple(p.strip() for p in os.environ.get(name, "").split(",") if p.strip())


@dataclass(frozen=True)
class Settings:
    """Distributed-mode settings. Durations are seconds.

    ======================== ================================= =========================
    variable                 meaning                           default
    ======================== ================================= =========================
    OXIFY_REDIS_URL          state store (and broker, backend) redis://127.0.0.1:6379/0
    OXIFY_BROKER_URL         Celery broker                     OXIFY_REDIS_URL
    OXIFY_RESULT_BACKEND     Celery result backend (chords)    OXIFY_REDIS_URL
    OXIFY_RESULT_TTL         keep a finished execution         604800 (7 days)
    OXIFY_LEASE              a worker's claim on a node        10
    OXIFY_DISPATCH_TIMEOUT   re-send a node nobody claimed     300
    OXIFY_STALL_AFTER        reconcile an execution idle for   2
    OXIFY_RECONCILE_INTERVAL how often the reconciler looks    1
    OXIFY_VISIBILITY_TIMEOUT broker redelivery of unacked work 7200
    OXIFY_PLUGINS            modules whose ``register(registry)`` adds executors
    OXIFY_HOOKS              ``module:factory`` items whose factory returns a Hooks
    ======================== ================================= =========================
    """

    redis_url: str = DEFAULT_REDIS_URL
    broker_url: str = DEFAULT_REDIS_URL
    result_backend: str = DEFAULT_REDIS_URL
    result_ttl: int = 7 * 24 * 3600
    lease: float = 10.0
    dispatch_timeout: float = 300.0
    stall_after: float = 2.0
    reconcile_interval: float = 1.0
    visibility_timeout: int = 7200
    plugins: tuple[str, ...] = field(default_factory=tuple)
    hooks: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def from_env(cls, redis_url: str | None = None) -> Settings:
        """Read the environment; ``redis_url`` (a CLI option) wins over OXIFY_REDIS_URL."""
        url = redis_url or os.environ.get("OXIFY_REDIS_URL") or DEFAULT_REDIS_URL
        plugins = _items("OXIFY_PLUGINS")
        return cls(
            redis_url=url,
            broker_url=os.environ.get("OXIFY_BROKER_URL") or url,
            result_backend=os.environ.get("OXIFY_RESULT_BACKEND") or url,
            result_ttl=int(_float("OXIFY_RESULT_TTL", cls.result_ttl)),
            lease=_float("OXIFY_LEASE", cls.lease),
            dispatch_timeout=_float("OXIFY_DISPATCH_TIMEOUT", cls.dispatch_timeout),
            stall_after=_float("OXIFY_STALL_AFTER", cls.stall_after),
            reconcile_interval=_float("OXIFY_RECONCILE_INTERVAL", cls.reconcile_interval),
            visibility_timeout=int(_float("OXIFY_VISIBILITY_TIMEOUT", cls.visibility_timeout)),
            plugins=plugins,
            hooks=_items("OXIFY_HOOKS"),
        )


def load_plugins(registry: object, modules: tuple[str, ...]) -> None:
    """Import each module and call its ``register(registry)``."""
    import importlib

    for name in modules:
        try:
            module = importlib.import_module(name)
        except ImportError as e:
            raise ConfigError(f"OXIFY_PLUGINS: cannot import {name}: {e}") from e
        register = getattr(module, "register", None)
        if not callable(register):
            raise ConfigError(f"OXIFY_PLUGINS: {name} has no register(registry) function")
        register(registry)


def load_hooks(specs: tuple[str, ...]) -> Hooks:
    """The hooks ``OXIFY_HOOKS`` names: each ``module:factory`` is imported and called once
    (several are chained). :class:`ConfigError` for one that cannot be loaded."""
    import importlib

    loaded: list[Hooks] = []
    for spec in specs:
        module_name, sep, attr = spec.partition(":")
        if not sep or not module_name or not attr:
            raise ConfigError(f"OXIFY_HOOKS: {spec!r} is not module:factory")
        try:
            module = importlib.import_module(module_name)
        except ImportError as e:
            raise ConfigError(f"OXIFY_HOOKS: cannot import {module_name}: {e}") from e
        factory = getattr(module, attr, None)
        if not callable(factory):
            raise ConfigError(f"OXIFY_HOOKS: {module_name} has no callable {attr}")
        hooks = factory()
        if not isinstance(hooks, Hooks):
            raise ConfigError(f"OXIFY_HOOKS: {spec} returned {type(hooks).__name__}, not Hooks")
        loaded.append(hooks)
    if len(loaded) == 1:
        return loaded[0]
    return HookChain(loaded) if loaded else Hooks()


def state_ttl() -> float:
    """Seconds the ``oxify`` command keeps an embedded execution it ran (``OXIFY_STATE_TTL``,
    default 7 days, like ``OXIFY_RESULT_TTL`` for distributed ones)."""
    return _float("OXIFY_STATE_TTL", 7 * 24 * 3600.0)


def state_dir() -> Path:
    """Where the ``oxify`` command keeps embedded executions and their checkpoints (for
    ``oxify resume`` and ``oxify replay``): ``OXIFY_STATE_DIR``, else
    ``$XDG_STATE_HOME/oxify``, else ``~/.local/state/oxify``."""
    explicit = os.environ.get("OXIFY_STATE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "oxify"
