"""A problem found in a workflow: what, where (node and JSON path), and how bad."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Issue:
    """One validation finding.

    ``path`` is a JSON path into the workflow document (``$.nodes[2].kind.config.expression``);
    ``node_id``/``node_name`` name the node when the problem belongs to one.
    """

    severity: Severity
    code: str
    message: str
    path: str = "$"
    node_id: str | None = None
    node_name: str | None = None

    def __str__(self) -> str:
        where = self.path
        if self.node_id is not None:
            if self.node_name and self.node_name != self.node_id:
                where = f"node '{self.node_name}' (id {self.node_id}) at {self.path}"
            else:
                where = f"node {self.node_id} at {self.path}"
        return f"{self.severity}: {where}: {self.message} [{self.code}]"

    def to_dict(self) -> dict[str, str | None]:
        """JSON-friendly form (used by ``oxify validate --json``)."""
        return {
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
            "path": self.path,
            "node_id": self.node_id,
            "node_name": self.node_name,
        }
