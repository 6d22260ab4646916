"""Which vector collection search uses, and with which model: the catalog database decides.

Switching models builds a new collection beside the active one; activation then flips one
database row in one transaction (and moves the store's alias), so every search sees either
the old model and collection or the new pair, never a mix.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from backend.catalog.schema import SearchIndex, utc_now


def active_index(session: Session) -> SearchIndex | None:
    """The index search uses now, if any has been activated."""
    return session.scalars(select(SearchIndex).where(SearchIndex.state == "active")).one_or_none()


def register_index(
    session: Session, collection: str, model_spec: str, model_key: str, dimension: int
) -> SearchIndex:
    """Record a collection being built (or return its existing record)."""
    index = session.get(SearchIndex, collection)
    if index is None:
        index = SearchIndex(
            collection=collection,
            model_spec=model_spec,
            model_key=model_key,
            dimension=dimension,
            state="building",
        )
        session.add(index)
        session.flush()
    return index


def activate_index(session: Session, collection: str) -> None:
    """Make this collection the one search uses; the previous active one is retired."""
    session.execute(update(SearchIndex).where(SearchIndex.state == "active").values(state="retired"))
    session.execute(
        update(SearchIndex)
        .where(SearchIndex.collection == collection)
        .values(state="active", activated_at=utc_now())
    )


def list_indexes(session: Session) -> list[SearchIndex]:
    """Every known index, newest first."""
    return list(session.scalars(select(SearchIndex).order_by(SearchIndex.created_at.desc())))
