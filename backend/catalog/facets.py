"""Facet counts: how many products that pass a filter have each value of a facet field."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.catalog.queries import FILTERED_COLUMNS
from backend.filters.fields import holds, sql_condition
from backend.filters.search_filter import FACETS, SearchFilter


def count_facets(
    session: Session, search_filter: SearchFilter, facets: Sequence[str]
) -> dict[str, dict[str, int]]:
    """Product counts per value of each facet field among the products that pass the filter."""
    # Every column a declaration may read, so fields checked in Python can read this row too.
    query = select(*FILTERED_COLUMNS)
    in_python = []
    for declaration, constraint in search_filter.conditions():
        if declaration.column is None:
            in_python.append((declaration, constraint))
        else:
            query = query.where(sql_condition(declaration.kind, declaration.column(), constraint))
    counts: dict[str, Counter[Any]] = {name: Counter() for name in facets}
    readers = {name: FACETS[name].row_value for name in facets}
    for row in session.execute(query):
        if not all(
            holds(declaration.kind, declaration.row_value(row, row.id), constraint)
            for declaration, constraint in in_python
        ):
            continue
        for name, value_of in readers.items():
            counts[name][value_of(row, row.id)] += 1
    return {name: dict(counter.most_common()) for name, counter in counts.items()}
