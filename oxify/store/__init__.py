"""Where execution state lives: the :class:`StateStore` protocol and its implementations."""

from oxify.store.base import StateStore
from oxify.store.memory import MemoryStore

__all__ = ["MemoryStore", "StateStore"]
