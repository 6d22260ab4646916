"""The catalog check of search results: the index's hits the catalog still agrees with, and their rows.

The catalog is the truth: a product changed or deleted since the last sync must not slip through a
filter on stale index data, nor be shown by a photo deleted since. Hits the check drops are made up
for by asking the index again for more.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from sqlalchemy.orm import Session

from backend.catalog import queries as catalog
from backend.catalog.schema import Product
from backend.filters.fields import FilterableProduct
from backend.filters.search_filter import SearchFilter
from backend.vectors.types import ProductHit

# Extra groups asked of the index beyond the one past the page (which tells whether there is a
# next page). A page left short by the check asks the index again anyway; the margin spares that
# second query when a hit or two were dropped, and stays small because every point the index
# returns costs a payload read.
OVERFETCH = 2


def checked_page(
    session: Session,
    fetch: Callable[[int], list[ProductHit]],
    search_filter: SearchFilter,
    offset: int,
    end: int,
    *,
    max_fetch: int,
) -> tuple[list[tuple[ProductHit, Product]], bool]:
    """The kept hits at ranks offset..end with their products, and whether more hits follow.

    `fetch(n)` asks the index for its best n products; while the check leaves too few, it is
    asked again for twice as many, up to `max_fetch`.
    """
    # One past the page says whether there is a next page.
    wanted = end + 1 + OVERFETCH
    while True:
        hits = fetch(wanted)
        products, owners = _catalog_rows(session, hits, whole=offset <= end - offset)
        kept = _still_matching(owners, hits, search_filter)
        # Fewer hits than asked for means the index has no more.
        if (len(kept) > end and not _tie_at_the_edge(hits, kept, end)) or len(hits) < wanted:
            break
        if wanted >= max_fetch:
            break
        wanted = min(2 * wanted, max_fetch)
    shown = kept[offset:end]
    missing = [hit.product_id for hit in shown if hit.product_id not in products]
    if missing:
        products.update(catalog.get_products(session, missing))
    # A product still missing was deleted between the two reads.
    return [(hit, products[hit.product_id]) for hit in shown if hit.product_id in products], len(kept) > end


def _tie_at_the_edge(hits: list[ProductHit], kept: list[ProductHit], end: int) -> bool:
    """Whether the hit just past the page scores as low as the lowest the index returned.

    Equal scores are ordered by product id, and the index returns a tie in no fixed order: one it
    left out could then belong on this page or the next one's first place.
    """
    return kept[end].score <= min(hit.score for hit in hits)


# What a hit's image belongs to in the catalog now: its product's id and filterable fields.
Owners = Mapping[int, tuple[int, FilterableProduct]]


def _catalog_rows(
    session: Session, hits: list[ProductHit], *, whole: bool
) -> tuple[dict[int, Product], Owners]:
    """The catalog's rows for the hits: whole products (and so their images) or light owner rows.

    Whole, one query both checks the hits and fills the page; that is the choice while most hits
    are on the page. A deep page reads light rows for every hit, and whole ones for its own only.
    """
    if whole:
        products = catalog.get_products(session, [hit.product_id for hit in hits])
        owners = {
            image.id: (product.id, product) for product in products.values() for image in product.images
        }
        return products, owners
    light = catalog.image_owners(session, [hit.image_id for hit in hits])
    return {}, {image_id: (owner.product_id, owner) for image_id, owner in light.items()}


def _still_matching(owners: Owners, hits: list[ProductHit], search_filter: SearchFilter) -> list[ProductHit]:
    """The hits whose image and product still exist and still pass the filter, in a total order."""
    kept = []
    # A total order: engines rank equal scores (identical photos) in no fixed order, so
    # without the product id as a second key paging through a tie could repeat or skip.
    for hit in sorted(hits, key=lambda hit: (-hit.score, hit.product_id)):
        product_id, owner = owners.get(hit.image_id, (None, None))
        if (
            owner is not None
            and product_id == hit.product_id
            and search_filter.matches(owner, hit.product_id)
        ):
            kept.append(hit)
    return kept
