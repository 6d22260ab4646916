"""Collection aliases for an engine that has none (Qdrant Edge): a JSON file replaced atomically."""

from __future__ import annotations

import json
import os
from pathlib import Path


class AliasFile:
    """Alias -> collection names in one small JSON file; a reader sees the old file or the new one."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def point(self, alias: str, collection: str) -> None:
        """Make the alias name the collection, durably."""
        aliases = self.read()
        aliases[alias] = collection
        self.path.parent.mkdir(parents=True, exist_ok=True)
        staging = self.path.with_name(f".{self.path.name}.tmp")
        with staging.open("w") as file:
            json.dump(aliases, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(staging, self.path)

    def target(self, alias: str) -> str | None:
        """The collection an alias names, if any."""
        return self.read().get(alias)

    def read(self) -> dict[str, str]:
        """Every alias."""
        return dict(json.loads(self.path.read_text())) if self.path.exists() else {}
