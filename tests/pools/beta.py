"""The ``acme.beta`` plugin: only the workers of queue ``acme.beta`` load it."""

from __future__ import annotations

from oxify.nodes.registry import NodeRegistry
from tests.pools import tagged


def register(registry: NodeRegistry) -> None:
    registry.register_custom("acme.beta", tagged("beta"))
