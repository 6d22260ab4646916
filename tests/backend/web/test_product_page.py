"""The product's view in Chromium: photos and fields, "more like this", likes and dislikes."""

from __future__ import annotations

import json
import urllib.error
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.backend.web.conftest import api_json, watched_page

LIST = "#more-results .card"


def listed_skus(page: Page) -> list[str]:
    expect(page.locator("#more-results")).not_to_have_attribute("aria-busy", "true")
    return page.locator(LIST).evaluate_all("cards => cards.map(card => card.dataset.sku)")


def skus(answer: dict[str, Any]) -> list[str]:
    return [match["product"]["sku"] for match in answer["results"]]


def test_a_product_shows_its_photos_fields_and_more_like_this(
    page: Page, site: str, catalog: dict[str, dict[str, Any]]
) -> None:
    product = catalog["STA-RED"]
    page.goto(f"/#/product/{product['id']}")
    expect(page.get_by_role("heading", level=1)).to_have_text(product["name"])
    expect(page).to_have_title(f"{product['name']} · Vitrine")
    details = page.locator("#product .details")
    for text in (product["sku"], product["brand"], product["category"], product["description"]):
        expect(details).to_contain_text(text)
    expect(details.locator(".price")).to_have_text(f"{product['price']:.2f} {product['currency']}")
    expect(details.locator("dl")).to_contain_text(f"colour{product['attributes']['colour']}")

    photo = page.locator("#product-photo")
    first, second = product["images"]
    expect(photo).to_have_attribute("src", first["url"])
    page.get_by_role("button", name="Show photo 2 of 2").click()
    expect(photo).to_have_attribute("src", second["url"])
    expect(photo).to_have_attribute("alt", f"{product['name']}, photo 2 of 2")
    expect(page.get_by_role("button", name="Show photo 2 of 2")).to_have_attribute("aria-pressed", "true")

    expect(page.get_by_role("heading", name="More like this")).to_be_visible()
    similar = api_json(f"{site}/products/{product['id']}/similar?limit=12")
    assert listed_skus(page) == skus(similar)
    assert "STA-RED" not in listed_skus(page)
    assert listed_skus(page)[:3] and all(catalog[sku]["category"] == "star" for sku in listed_skus(page)[:3])


def test_likes_and_dislikes_refine_the_list_and_stay_in_the_tab(
    page: Page, browser: Browser, site: str, catalog: dict[str, dict[str, Any]]
) -> None:
    star = catalog["STA-RED"]
    page.goto(f"/#/product/{star['id']}")
    liked_sku = listed_skus(page)[0]
    liked = catalog[liked_sku]["id"]

    page.get_by_role("button", name=f"Like {catalog[liked_sku]['name']}", exact=True).click()
    expect(page.get_by_role("heading", name="Picked for you")).to_be_visible()
    expect(page.locator("#picks-summary")).to_have_text("From your picks in this tab: 1 liked, 0 disliked.")
    refined = api_json(
        f"{site}/recommendations", {"positive": [star["id"], liked], "negative": [], "limit": 12}
    )
    assert listed_skus(page) == skus(refined)
    assert liked_sku not in listed_skus(page)  # a product already picked is not suggested again

    disliked_sku = listed_skus(page)[0]
    disliked = catalog[disliked_sku]["id"]
    page.get_by_role("button", name=f"Dislike {catalog[disliked_sku]['name']}", exact=True).click()
    expect(page.locator("#picks-summary")).to_have_text("From your picks in this tab: 1 liked, 1 disliked.")
    body = {"positive": [star["id"], liked], "negative": [disliked], "limit": 12}
    again = api_json(f"{site}/recommendations", body)
    assert skus(again) != skus(refined)
    assert listed_skus(page) == skus(again)

    # Another product in the same tab starts from these picks, with itself as liked.
    square = catalog["SQU-BLU"]
    page.goto(f"/#/product/{square['id']}")
    expect(page.get_by_role("heading", level=1)).to_have_text(square["name"])
    expect(page.locator("#picks-summary")).to_have_text("From your picks in this tab: 1 liked, 1 disliked.")
    body = {"positive": [square["id"], liked], "negative": [disliked], "limit": 12}
    assert listed_skus(page) == skus(api_json(f"{site}/recommendations", body))

    with watched_page(browser, site) as other_tab:  # another tab has picks of its own: none yet
        other_tab.goto(f"/#/product/{square['id']}")
        expect(other_tab.get_by_role("heading", name="More like this")).to_be_visible()
        assert listed_skus(other_tab) == skus(api_json(f"{site}/products/{square['id']}/similar?limit=12"))

    page.get_by_role("button", name="Forget likes and dislikes").click()
    expect(page.get_by_role("heading", name="More like this")).to_be_visible()
    assert listed_skus(page) == skus(api_json(f"{site}/products/{square['id']}/similar?limit=12"))


def test_an_unknown_product_shows_the_apis_error(page: Page, site: str) -> None:
    with pytest.raises(urllib.error.HTTPError) as missing:
        api_json(f"{site}/products/999999")
    message = json.loads(missing.value.read())["error"]["message"]
    missing.value.close()
    page.goto("/#/product/999999")
    expect(page.locator("#product-error")).to_have_text(message)
    expect(page.get_by_role("heading", level=1)).to_have_text("Product not found")
