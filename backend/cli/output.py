"""What the CLI prints: search matches, sync progress and database URLs without their passwords."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from backend.search.service import SearchResults


def section(title: str) -> None:
    click.echo(f"\n== {title}")


def print_matches(results: SearchResults) -> None:
    matches = results.matches
    if not matches:
        click.echo("  (no results)")
    for rank, match in enumerate(matches, start=1):
        product = match.product
        stock = "in stock" if product.in_stock else "sold out"
        click.echo(
            f"  {rank}. {product.sku:<8} {product.name:<24} {product.category:<9} "
            f"{product.brand:<8} {product.price:>7} {product.currency} {stock:<8} "
            f"score={match.score:.3f}"
        )


def print_progress(stage: str, done: int, total: int) -> None:
    click.echo(f"  {stage}: {done}/{total}", err=True)


def redact(url: str) -> str:
    scheme, separator, rest = url.partition("://")
    if "@" in rest:
        rest = "***@" + rest.split("@", 1)[1]
    return scheme + separator + rest
