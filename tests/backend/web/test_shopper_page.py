"""The shopper's view in Chromium: a photo in, the right products out, filters, pages, a region."""

from __future__ import annotations

import base64
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from playwright.sync_api import Locator, Page, expect

from backend.demo.sample_catalog import write_query_photo
from tests.backend.deployments import post_multipart

RESULTS = "#search-results .card"


def shown_skus(page: Page) -> list[str]:
    return page.locator(RESULTS).evaluate_all("cards => cards.map(card => card.dataset.sku)")


# Chromium does not hand a multipart body holding a file to Playwright, so the page's fetch is
# watched instead: each form it sends is noted (its text fields) and then sent as it was.
NOTE_FORMS = """
const send = window.fetch;
window.sentForms = [];
window.fetch = (resource, options = {}) => {
  if (options.body instanceof FormData) {
    const fields = {};
    for (const [name, value] of options.body.entries()) {
      if (typeof value === "string") (fields[name] ||= []).push(value);
    }
    window.sentForms.push(fields);
  }
  return send(resource, options);
};
"""


@pytest.fixture(autouse=True)
def note_forms(page: Page) -> None:
    page.add_init_script(NOTE_FORMS)


def searched(page: Page, action: Any) -> dict[str, list[str]]:
    """Do what starts a search; once the page has shown the answer, the text fields it sent."""
    with page.expect_response(lambda response: response.url.endswith("/search")):
        action()
    expect(page.locator("#search-results")).not_to_have_attribute("aria-busy", "true")
    fields: dict[str, list[str]] = page.evaluate("window.sentForms.at(-1)")
    return fields


def type_into(field: Locator, value: str) -> None:
    """Type a value and leave the field, as a keyboard user does (the field's change event)."""
    field.fill(value)
    field.press("Tab")


def facet_counts(page: Page, field: str) -> dict[str, int]:
    labels = page.locator(f"#{field}-facet .facet-value")
    pairs = labels.evaluate_all("labels => labels.map(label => [label.dataset.value, label.dataset.count])")
    return {value: int(count) for value, count in pairs}


@pytest.fixture
def searched_page(page: Page, tmp_path: Path) -> Page:
    """The page after a search with a shop photo of the blue triangle."""
    page.goto("/")
    photo = write_query_photo(tmp_path, "TRI-BLU")
    searched(page, lambda: page.set_input_files("#photo-input", photo))
    return page


def test_a_photo_finds_its_product_first_with_its_fields(
    searched_page: Page, site: str, catalog: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    page = searched_page
    photo = write_query_photo(tmp_path, "TRI-BLU").read_bytes()
    status, answer = post_multipart(f"{site}/search", "image", "q.jpg", photo, {"limit": "24"})
    assert status == 200
    assert shown_skus(page) == [match["product"]["sku"] for match in answer["results"]]
    assert shown_skus(page)[0] == "TRI-BLU"
    first = page.locator(RESULTS).first
    product = catalog["TRI-BLU"]
    expect(first.locator("h3")).to_have_text(product["name"])
    expect(first.locator(".brand")).to_have_text(product["brand"])
    expect(first.locator(".price")).to_have_text(f"{product['price']:.2f} {product['currency']}")
    expect(first.locator(".stock")).to_have_text("In stock" if product["in_stock"] else "Sold out")
    expect(first.locator(".score")).to_have_text(f"{answer['results'][0]['score']:.3f}")
    photo_element = first.locator(".card-photo > img")
    expect(photo_element).to_have_attribute("src", product["images"][0]["url"])
    expect(photo_element).to_have_attribute("alt", product["name"])
    expect(photo_element).to_have_js_property("complete", True)
    assert photo_element.evaluate("image => image.naturalWidth") > 0  # the image URL serves a picture
    matched = int(first.get_attribute("data-matched-image-id") or 0)
    assert matched == answer["results"][0]["matched_image_id"]
    if matched != product["images"][0]["id"]:  # the shop photo matched: shown beside the first one
        expect(first.locator(".matched img")).to_have_attribute("src", product["images"][1]["url"])
    expect(page.locator("#status")).to_have_text("Results 1 to 24 for your photo.")


def test_filters_show_only_matching_products_and_update_the_counts(
    searched_page: Page, catalog: dict[str, dict[str, Any]]
) -> None:
    page = searched_page
    products = list(catalog.values())
    assert facet_counts(page, "category") == Counter(product["category"] for product in products)
    assert facet_counts(page, "brand") == Counter(product["brand"] for product in products)

    searched(page, lambda: page.get_by_role("checkbox", name="triangle").check())
    triangles = [product for product in products if product["category"] == "triangle"]
    assert sorted(shown_skus(page)) == sorted(product["sku"] for product in triangles)
    assert facet_counts(page, "category") == {"circle": 0, "square": 0, "star": 0, "triangle": len(triangles)}
    assert facet_counts(page, "brand") == {
        brand: sum(product["brand"] == brand for product in triangles)
        for brand in ("Acme", "Globex", "Initech")
    }

    searched(page, lambda: page.get_by_label("In stock only").check())
    in_stock = [product for product in triangles if product["in_stock"]]
    assert 0 < len(in_stock) < len(triangles)  # the demo has sold-out triangles: the filter shows
    assert sorted(shown_skus(page)) == sorted(product["sku"] for product in in_stock)
    assert facet_counts(page, "category")["triangle"] == len(in_stock)
    expect(page.locator(f"{RESULTS} .stock")).to_have_text(["In stock"] * len(in_stock))

    sent = searched(page, lambda: type_into(page.get_by_label("to", exact=True), "20"))
    assert sent["price_max"] == ["20"]
    cheap = [product for product in in_stock if product["price"] <= 20]
    assert sorted(shown_skus(page)) == sorted(product["sku"] for product in cheap)
    assert sum(facet_counts(page, "brand").values()) == len(cheap)

    # Unticking the category widens the result again; the value stays listed to tick it back.
    searched(page, lambda: page.get_by_role("checkbox", name="triangle").uncheck())
    assert {catalog[sku]["category"] for sku in shown_skus(page)} > {"triangle"}
    assert all(catalog[sku]["in_stock"] and catalog[sku]["price"] <= 20 for sku in shown_skus(page))


def test_pages_follow_next_offset(searched_page: Page, catalog: dict[str, dict[str, Any]]) -> None:
    page = searched_page
    sent = searched(page, lambda: page.get_by_label("Results per page").select_option("12"))
    assert sent["limit"] == ["12"] and sent["offset"] == ["0"]
    first_page = shown_skus(page)
    assert len(first_page) == 12
    expect(page.get_by_role("button", name="Previous page")).to_be_disabled()
    sent = searched(page, lambda: page.get_by_role("button", name="Next page").click())
    assert sent["offset"] == ["12"]
    second_page = shown_skus(page)
    assert set(first_page).isdisjoint(second_page)
    assert set(first_page) | set(second_page) == set(catalog)  # 24 products, two pages, nothing skipped
    expect(page.get_by_role("button", name="Next page")).to_be_disabled()  # next_offset is null
    expect(page.locator("#search-summary")).to_have_text("Results 13 to 24 for your photo.")
    searched(page, lambda: page.get_by_role("button", name="Previous page").click())
    assert shown_skus(page) == first_page


def pair_photo(folder: Path) -> Path:
    """A shelf photo: the blue triangle on the left half, the red square on the right half."""
    pair = Image.new("RGB", (512, 256))
    pair.paste(Image.open(write_query_photo(folder, "TRI-BLU")), (0, 0))
    pair.paste(Image.open(write_query_photo(folder, "SQU-RED")), (256, 0))
    path = folder / "pair.jpg"
    pair.save(path, quality=90)
    return path


def region_sent(fields: dict[str, list[str]]) -> list[float]:
    return [float(edge) for edge in fields["region"][0].split(",")]


def test_a_box_drawn_on_the_photo_searches_only_that_part(page: Page, tmp_path: Path) -> None:
    page.goto("/")
    sent = searched(page, lambda: page.set_input_files("#photo-input", pair_photo(tmp_path)))
    assert "region" not in sent
    assert shown_skus(page)[0] == "TRI-BLU"  # the whole photo: the triangle wins

    frame = page.locator("#photo-frame").bounding_box()
    assert frame is not None

    def drag() -> None:
        page.mouse.move(frame["x"] + 0.55 * frame["width"], frame["y"] + 0.05 * frame["height"])
        page.mouse.down()
        page.mouse.move(frame["x"] + 0.97 * frame["width"], frame["y"] + 0.95 * frame["height"], steps=5)
        page.mouse.up()

    sent = searched(page, drag)
    assert region_sent(sent) == pytest.approx([0.55, 0.05, 0.97, 0.95], abs=0.01)
    assert shown_skus(page)[0] == "SQU-RED"
    expect(page.locator("#region-box")).to_be_visible()
    expect(page.get_by_label("Left", exact=True)).to_have_value("55")
    expect(page.locator("#search-summary")).to_have_text("Results 1 to 24 for the box on your photo.")

    # Without a pointer: the box takes keys once focused, and the four fields set it exactly.
    sent = searched(page, lambda: page.locator("#region-box").press("Delete"))
    assert "region" not in sent
    assert shown_skus(page)[0] == "TRI-BLU"
    expect(page.locator("#region-box")).to_be_hidden()
    for label, value in (("Left", "50"), ("Top", "0"), ("Right", "100")):
        type_into(page.get_by_label(label, exact=True), value)  # no box yet: nothing is searched
    sent = searched(page, lambda: type_into(page.get_by_label("Bottom", exact=True), "100"))
    assert region_sent(sent) == [0.5, 0.0, 1.0, 1.0]
    assert shown_skus(page)[0] == "SQU-RED"
    sent = searched(page, lambda: page.locator("#region-box").press("ArrowLeft"))
    assert region_sent(sent) == pytest.approx([0.48, 0.0, 0.98, 1.0])
    expect(page.get_by_label("Right", exact=True)).to_have_value("98")
    sent = searched(page, lambda: page.locator("#region-box").press("Shift+ArrowUp"))
    assert region_sent(sent) == pytest.approx([0.48, 0.0, 0.98, 0.98])  # Shift resizes


def test_a_file_that_is_no_photo_shows_the_apis_error(page: Page, site: str) -> None:
    page.goto("/")
    upload = {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"this is not a photo"}
    searched(page, lambda: page.set_input_files("#photo-input", files=[upload]))  # type: ignore[list-item]
    status, answer = post_multipart(f"{site}/search", "image", "notes.txt", upload["buffer"], {})  # type: ignore[arg-type]
    assert status == 400
    expect(page.get_by_role("alert")).to_have_text(answer["error"]["message"])
    assert "notes.txt" in answer["error"]["message"]
    expect(page.locator(RESULTS)).to_have_count(0)
    expect(page.get_by_role("heading", name="Search by photo")).to_be_visible()  # the page is still there


DROP_OR_PASTE = """([kind, name, data]) => {
  const bytes = Uint8Array.from(atob(data), (char) => char.charCodeAt(0));
  const transfer = new DataTransfer();
  transfer.items.add(new File([bytes], name, { type: "image/jpeg" }));
  const event = kind === "drop"
    ? new DragEvent("drop", { dataTransfer: transfer, bubbles: true, cancelable: true })
    : new ClipboardEvent("paste", { clipboardData: transfer, bubbles: true, cancelable: true });
  (kind === "drop" ? document.getElementById("drop-zone") : document.body).dispatchEvent(event);
}"""


def test_a_photo_can_be_dropped_or_pasted(page: Page, tmp_path: Path) -> None:
    page.goto("/")
    for kind, sku in (("drop", "TRI-BLU"), ("paste", "CIR-BLU")):
        data = base64.b64encode(write_query_photo(tmp_path, sku).read_bytes()).decode()
        searched(page, lambda kind=kind, data=data: page.evaluate(DROP_OR_PASTE, [kind, f"{kind}.jpg", data]))
        assert shown_skus(page)[0] == sku, kind
        expect(page.locator("#photo-name")).to_have_text(f"Photo: {kind}.jpg")


def test_a_product_opens_from_its_card_and_back_keeps_the_results(searched_page: Page) -> None:
    page = searched_page
    before = shown_skus(page)
    page.locator(RESULTS).first.get_by_role("link").click()
    expect(page).to_have_url(re.compile(r"/#/product/\d+$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Blue triangle print")
    page.go_back()
    expect(page.get_by_role("heading", level=1, name="Search by photo")).to_be_visible()
    assert shown_skus(page) == before  # the search is not lost, nor run again
