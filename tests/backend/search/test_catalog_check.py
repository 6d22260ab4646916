"""The catalog check of search results (backend/search/catalog_check.py): hits whose product or photo is
gone, or that no longer pass the filter, are dropped and the page is still full and in order."""

from __future__ import annotations

from pathlib import Path

import pytest

from backend.demo.sample_catalog import write_sample_catalog
from backend.filters.search_filter import SearchFilter
from backend.search.catalog_check import OVERFETCH
from backend.search.service import Page, SearchResults
from backend.wiring import Services


def synced(services: Services, tmp_path: Path) -> None:
    catalog_file = write_sample_catalog(tmp_path / "sample")
    services.catalog.import_file(catalog_file, tmp_path / "sample" / "images")
    services.sync.run()


def ranked(results: SearchResults) -> list[int]:
    return [match.product.id for match in results.matches]


def test_a_page_stays_full_when_the_catalog_check_drops_more_than_the_overfetch(
    services: Services, tmp_path: Path
) -> None:
    synced(services, tmp_path)
    every = SearchFilter()
    before = ranked(services.search.similar_products(1, every, Page(limit=23)))
    assert len(before) == 23
    # Deleted from the catalog only: the index still returns them first until the next sync.
    gone = before[: OVERFETCH + 2]
    for product_id in gone:
        services.catalog.delete(product_id)

    first = services.search.similar_products(1, every, Page(limit=10))
    assert ranked(first) == before[len(gone) : len(gone) + 10]
    assert first.next_offset == 10
    last = services.search.similar_products(1, every, Page(offset=10, limit=10))
    assert ranked(last) == before[len(gone) + 10 :]
    assert last.next_offset is None


def test_hits_of_a_deleted_photo_or_a_product_that_no_longer_passes_the_filter_are_dropped(
    services: Services, tmp_path: Path
) -> None:
    synced(services, tmp_path)
    in_stock = SearchFilter(in_stock=True)
    before = services.search.similar_products(1, in_stock, Page(limit=12))
    order = ranked(before)
    photo_gone, out_of_stock = before.matches[0], before.matches[1].product.id
    services.catalog.delete_image(photo_gone.product.id, photo_gone.image_id)
    services.catalog.update(out_of_stock, {"in_stock": False})

    after = services.search.similar_products(1, in_stock, Page(limit=10))
    # The product of the deleted photo is not shown by its other photo either: the index
    # matched the deleted one, and only a sync can tell what the other would score.
    assert ranked(after) == order[2:12]
    assert all(match.product.in_stock for match in after.matches)
    assert all(match.image_id in {image.id for image in match.product.images} for match in after.matches)


@pytest.mark.parametrize(
    "page",
    [Page(limit=5), Page(offset=9, limit=4)],
    ids=["first page, whole rows", "deep page, light rows then the page's own"],
)
def test_a_deep_page_drops_what_the_first_page_drops(services: Services, tmp_path: Path, page: Page) -> None:
    synced(services, tmp_path)
    in_stock = SearchFilter(in_stock=True)
    before = services.search.similar_products(1, in_stock, Page(limit=20))
    order = ranked(before)
    photo_gone, deleted, out_of_stock = before.matches[2], order[4], order[7]
    services.catalog.delete_image(photo_gone.product.id, photo_gone.image_id)
    services.catalog.delete(deleted)
    services.catalog.update(out_of_stock, {"in_stock": False})
    dropped = {photo_gone.product.id, deleted, out_of_stock}
    left = [product_id for product_id in order if product_id not in dropped]

    after = services.search.similar_products(1, in_stock, page)
    assert ranked(after) == left[page.offset : page.offset + page.limit]
    assert after.next_offset == page.offset + page.limit
    for match in after.matches:
        assert match.product.in_stock
        assert match.image_id in {image.id for image in match.product.images}
