"""The sync's plan: a pure comparison of what the index should hold with what it holds.

The catalog side is every image with its product's fields; the index side is each point's
state (its payload, which names the image content and the model its vector came from).
Nothing here reads or writes a store or a database.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from backend.catalog.queries import IndexedImage
from backend.filters.fields import point_payload
from backend.json_values import same_json
from backend.vectors.types import PayloadUpdate, PointState

# Payload operations handed over at a time, so that they can be written while the comparison goes on.
PAYLOAD_CHUNK = 2000
UpdateSink = Callable[[list[PayloadUpdate]], None]


@dataclass(frozen=True)
class SyncPlan:
    """The differences between the catalog and the index."""

    to_embed: list[IndexedImage]
    to_update: list[PayloadUpdate]
    to_delete: list[int]
    unchanged: int
    missing: int = 0
    content_changed: int = 0
    other_model: int = 0
    # Points of this model by image content hash, whose vectors new images with the same bytes reuse.
    vectors_by_hash: dict[str, int] = field(default_factory=dict)

    @cached_property
    def stale_points(self) -> int:
        """Points whose payload needs writing."""
        return sum(len(update.point_ids) for update in self.to_update)

    def drift(self) -> dict[str, int]:
        """Counts of each kind of difference; all zero when the index is current."""
        return {
            "missing_points": self.missing,
            "changed_images": self.content_changed,
            "other_model_vectors": self.other_model,
            "stale_payloads": self.stale_points,
            "orphan_points": len(self.to_delete),
        }

    def report(self) -> dict[str, int | bool]:
        """`in_sync` and the drift counts, as `vitrine sync --check` and GET /admin/sync/drift show them."""
        drift = self.drift()
        return {"in_sync": not any(drift.values()), **drift}


def plan_sync(
    images: Iterator[IndexedImage],
    states: dict[int, PointState],
    model_key: str,
    write: UpdateSink | None = None,
) -> SyncPlan:
    """Compare the catalog's images with the index's points.

    With `write`, payload updates are handed to it in chunks as they are found (so they can
    be written while the comparison goes on); the plan lists them all either way.
    """
    to_embed: list[IndexedImage] = []
    to_update: list[PayloadUpdate] = []
    updates: dict[Hashable, PayloadUpdate] = {}  # points given the same fields share one operation
    seen: set[int] = set()
    unchanged = missing = content_changed = other_model = 0

    def hand_over() -> None:
        chunk = list(updates.values())
        updates.clear()
        to_update.extend(chunk)
        if write is not None and chunk:
            write(chunk)

    for item in images:
        seen.add(item.image_id)
        state = states.get(item.image_id)
        if state is None:
            missing += 1
            to_embed.append(item)
        elif state.model != model_key:
            other_model += 1
            to_embed.append(item)
        elif state.content_hash != item.content_hash:
            content_changed += 1
            to_embed.append(item)
        else:
            update = payload_update(item.image_id, state.payload, point_payload(item, model_key))
            if update is None:
                unchanged += 1
            else:
                _add(updates, update)
                if len(updates) >= PAYLOAD_CHUNK:
                    hand_over()
    hand_over()
    to_delete = sorted(point_id for point_id in states if point_id not in seen)
    vectors_by_hash = (
        {
            state.content_hash: state.id
            for state in states.values()
            if state.content_hash and state.model == model_key
        }
        if to_embed
        else {}
    )
    return SyncPlan(
        to_embed, to_update, to_delete, unchanged, missing, content_changed, other_model, vectors_by_hash
    )


def payload_update(point_id: int, stored: dict[str, Any], wanted: dict[str, Any]) -> PayloadUpdate | None:
    """What turns a point's stored payload into the wanted one: None, the changed fields, or all.

    Values compare as JSON does (True is not 1, "1" is not 1). Fields the wanted payload
    no longer has (left by an older version) need the whole payload replaced.
    """
    if stored == wanted:  # the common case, confirmed type by type
        for key, value in wanted.items():
            old = stored[key]
            if type(old) is not type(value) or (type(value) in _NESTED and not same_json(old, value)):
                break
        else:
            return None
    if stored.keys() - wanted.keys():
        return PayloadUpdate([point_id], wanted, replace=True)
    changed = {}
    for key, value in wanted.items():
        old = stored.get(key, _ABSENT)
        differs = old != value or type(old) is not type(value)
        if differs or (type(value) in _NESTED and not same_json(old, value)):
            changed[key] = value
    return PayloadUpdate([point_id], changed) if changed else None


_ABSENT = object()
_NESTED = (dict, list)


def _add(updates: dict[Hashable, PayloadUpdate], update: PayloadUpdate) -> None:
    """Add a point's update, sharing an operation with points given exactly the same fields.

    Photos of one product change together, and so do products put out of stock or moved
    to another brand: one operation each instead of one per point.
    """
    key: Hashable
    if update.replace:
        key = ("replace", update.point_ids[0])  # whole payloads differ per point (image_id)
    else:
        key = tuple((field_name, type(value), value) for field_name, value in update.fields.items())
        try:
            hash(key)
        except TypeError:  # nested values: compare them as JSON text, which keeps true apart from 1
            key = json.dumps(update.fields, sort_keys=True)
    existing = updates.get(key)
    if existing is None:
        updates[key] = update
    else:
        existing.point_ids.extend(update.point_ids)
