"""Screenshots of the page's three views for the README, from a fresh demo deployment.

    .venv/bin/python -m tests.backend.web.screenshots [folder]   # default: docs/screenshots

The same browser, server and demo catalog as the browser tests, in a temporary data folder.
"""

from __future__ import annotations

import argparse
import io
import tempfile
from pathlib import Path

from PIL import Image
from playwright.sync_api import Page, expect, sync_playwright

from tests.backend.deployments import ADMIN_TOKEN, demo_deployment, serving
from tests.backend.web.conftest import CHROMIUM, CHROMIUM_ARGS, api_json
from tests.backend.web.test_admin_page import add_unindexed_products
from tests.backend.web.test_shopper_page import pair_photo

WIDTH, HEIGHT = 1000, 760


def shopper(page: Page, photos: Path) -> None:
    """A shelf photo with a box around the red square, and what the box found."""
    page.goto("/")
    page.set_input_files("#photo-input", pair_photo(photos))
    expect(page.locator("#search-results .card").first).to_be_visible()
    for label, value in (("Left", "52"), ("Top", "4"), ("Right", "97"), ("Bottom", "96")):
        page.get_by_label(label, exact=True).fill(value)
        page.get_by_label(label, exact=True).press("Tab")
    expect(page.locator("#search-results .card").first).to_have_attribute("data-sku", "SQU-RED")
    page.evaluate("window.scrollTo(0, 0)")


def product(page: Page, base: str) -> None:
    """The red star's page after one like, so the list shows recommendations."""
    products = api_json(f"{base}/products?limit=200")["products"]
    star = next(item for item in products if item["sku"] == "STA-RED")
    page.goto(f"/#/product/{star['id']}")
    expect(page.locator("#more-results .card").first).to_be_visible()
    page.locator("#more-results .card button.pick.positive").first.click()
    expect(page.get_by_role("heading", name="Picked for you")).to_be_visible()
    expect(page.locator("#more-results")).not_to_have_attribute("aria-busy", "true")
    page.evaluate("window.scrollTo(0, 0)")


def admin(page: Page, base: str) -> None:
    """A sync of new photos, caught while its progress bar moves."""
    add_unindexed_products(base, 150)
    page.goto("/#/admin")
    page.get_by_label("Admin token").fill(ADMIN_TOKEN)
    page.get_by_role("button", name="Open the admin view").click()
    expect(page.locator("#admin-panels")).to_be_visible()
    page.get_by_role("button", name="Sync now").click()
    expect(page.locator("#sync-stage")).to_contain_text("Embedding photos", timeout=60_000)


def save_small(png: bytes, path: Path) -> None:
    """A 256-colour PNG: the views are flat colours and text, so this keeps them a fraction of the size."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, default=Path("docs/screenshots"))
    folder: Path = parser.parse_args().folder
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch, sync_playwright() as playwright:
        env = demo_deployment(Path(scratch) / "data")
        photos = Path(scratch) / "photos"
        photos.mkdir()
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        with serving(env) as base:
            context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT}, base_url=base)
            page = context.new_page()
            for name, show in (
                ("shopper", lambda: shopper(page, photos)),
                ("product", lambda: product(page, base)),
                ("admin", lambda: admin(page, base)),
            ):
                show()
                save_small(page.screenshot(), folder / f"{name}.png")
                print(folder / f"{name}.png")
            context.close()
        browser.close()


if __name__ == "__main__":
    main()
