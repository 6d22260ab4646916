"""Vitrine's filters and payload index types in qdrant-client's models, for a server and local mode."""

from __future__ import annotations

from qdrant_client import models

from backend.filters.fields import IndexType, Kind
from backend.filters.search_filter import SearchFilter

INDEX_TYPES = {
    IndexType.INTEGER: models.PayloadSchemaType.INTEGER,
    IndexType.KEYWORD: models.PayloadSchemaType.KEYWORD,
    IndexType.FLOAT: models.PayloadSchemaType.FLOAT,
    IndexType.BOOL: models.PayloadSchemaType.BOOL,
}


def to_qdrant_filter(search_filter: SearchFilter) -> models.Filter | None:
    """Translate a domain filter into Qdrant's filter language, one condition per declared field."""
    must: list[models.Condition] = []
    must_not: list[models.Condition] = []
    for declaration, constraint in search_filter.conditions():
        key = declaration.payload.key
        kind = declaration.kind
        if kind is Kind.NONE_OF:
            must_not.append(models.FieldCondition(key=key, match=models.MatchAny(any=list(constraint))))
        elif kind is Kind.ANY_OF:
            must.append(models.FieldCondition(key=key, match=models.MatchAny(any=list(constraint))))
        elif kind is Kind.AT_LEAST:
            must.append(models.FieldCondition(key=key, range=models.Range(gte=float(constraint))))
        elif kind is Kind.AT_MOST:
            must.append(models.FieldCondition(key=key, range=models.Range(lte=float(constraint))))
        elif kind is Kind.EQUALS:
            must.append(models.FieldCondition(key=key, match=models.MatchValue(value=constraint)))
        elif kind is Kind.CONTAINS:
            must.append(models.FieldCondition(key=key, match=models.MatchText(text=constraint)))
        else:
            for attribute, accepted in constraint:
                options: list[models.Condition] = [
                    models.FieldCondition(key=f"{key}.{attribute}", match=models.MatchValue(value=value))
                    for value in accepted
                ]
                must.append(models.Filter(should=options))
    if not must and not must_not:
        return None
    return models.Filter(must=must or None, must_not=must_not or None)
