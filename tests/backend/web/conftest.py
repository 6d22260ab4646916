"""The page in a real browser: headless Chromium (Debian's) driven by Playwright against `vitrine serve`.

Chromium is a system package (`apt-get install chromium`; .ci/run installs it), never a
browser Playwright downloads. Without it these tests fail: a page nobody has run is not tested.
"""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.backend.deployments import demo_deployment, serving

CHROMIUM = Path(os.environ.get("VITRINE_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1000, "height": 800}
# Long enough for a search on a busy 2-core machine; a missing element fails well before 30 s.
TIMEOUT_MS = 15_000


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the run; each test gets a fresh context (its own tab storage)."""
    if not CHROMIUM.is_file():
        pytest.fail(f"no Chromium at {CHROMIUM}: apt-get install -y chromium (or set VITRINE_CHROMIUM)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="package")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`vitrine serve` over a `vitrine demo` deployment, shared by the tests that only read it."""
    env = demo_deployment(tmp_path_factory.mktemp("site"))
    with serving(env) as base:
        yield base


@contextmanager
def watched_page(browser: Browser, base: str) -> Iterator[Page]:
    """A new tab on the site that fails the test if the page calls anything but the site or crashes."""
    context = browser.new_context(viewport=VIEWPORT, base_url=base)  # type: ignore[arg-type]
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    elsewhere: list[str] = []
    crashes: list[str] = []
    page.on("request", lambda request: _note_outside(request.url, base, elsewhere))
    page.on("pageerror", lambda error: crashes.append(str(error)))
    try:
        yield page
    finally:
        context.close()
    assert not elsewhere, f"the page reached beyond the server: {elsewhere}"
    assert not crashes, f"uncaught errors in the page: {crashes}"


def _note_outside(url: str, base: str, elsewhere: list[str]) -> None:
    if not url.startswith((f"{base}/", "blob:", "data:")):
        elsewhere.append(url)


@pytest.fixture
def page(browser: Browser, site: str) -> Iterator[Page]:
    """A fresh tab on the shared demo site."""
    with watched_page(browser, site) as opened:
        yield opened


def api_json(url: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
    """The API's answer, asked directly (not through the page): what the page should show."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, headers={**({"Content-Type": "application/json"} if data else {}), **(headers or {})}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


@pytest.fixture(scope="package")
def catalog(site: str) -> dict[str, dict[str, Any]]:
    """The demo catalog's products by SKU, as GET /products gives them."""
    products = api_json(f"{site}/products?limit=200")["products"]
    return {product["sku"]: product for product in products}
