"""The admin view in Chromium: the token kept in the tab, the catalog and index, a sync and its progress."""

from __future__ import annotations

import io
import json
import urllib.error
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, expect

from tests.backend.deployments import ADMIN_TOKEN, demo_deployment, post_multipart, serving
from tests.backend.web.conftest import api_json, watched_page

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
# Photos the sync embeds while the page watches: about a second and a half of embedding on 2 cores,
# so that the page polls its progress several times (60 took under a second: only "planning" showed).
NEW_PHOTOS = 150


@pytest.fixture(scope="module")
def admin_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A demo deployment of its own: these tests change its catalog and index."""
    env = demo_deployment(tmp_path_factory.mktemp("admin-site"))
    with serving(env) as base:
        yield base


@pytest.fixture
def admin_page(browser: Browser, admin_site: str) -> Iterator[Page]:
    with watched_page(browser, admin_site) as page:
        yield page


def api_error(url: str, headers: dict[str, str]) -> dict[str, Any]:
    with pytest.raises(urllib.error.HTTPError) as failed:
        api_json(url, headers=headers)
    body: dict[str, Any] = json.loads(failed.value.read())["error"]
    failed.value.close()
    return body


def sign_in(page: Page, token: str) -> None:
    page.get_by_label("Admin token").fill(token)
    page.get_by_role("button", name="Open the admin view").click()


def test_the_token_is_asked_once_and_kept_in_this_tab_only(admin_page: Page, admin_site: str) -> None:
    page = admin_page
    page.goto("/#/admin")
    expect(page.get_by_label("Admin token")).to_be_focused()
    sign_in(page, "wrong")
    refused = api_error(f"{admin_site}/admin/sync", {"Authorization": "Bearer wrong"})
    expect(page.get_by_role("alert")).to_have_text(refused["message"])
    expect(page.locator("#admin-panels")).to_be_hidden()
    assert page.evaluate("sessionStorage.length") == 0

    sign_in(page, ADMIN_TOKEN)
    expect(page.locator("#admin-panels")).to_be_visible()
    expect(page.get_by_role("alert")).to_be_hidden()
    status = api_json(f"{admin_site}/admin/sync", headers=ADMIN)
    expect(page.locator("#catalog-size")).to_have_text(
        str(api_json(f"{admin_site}/products?limit=1")["total"])
    )
    expect(page.locator("#active-model")).to_have_text(status["last_report"]["model"])
    expect(page.locator("#active-collection")).to_have_text(f"{status['last_report']['collection']} (active)")
    assert page.evaluate("[sessionStorage.getItem('vitrine.adminToken'), localStorage.length]") == [
        ADMIN_TOKEN,
        0,
    ]
    assert page.evaluate("document.cookie") == ""

    page.reload()  # the same tab: still signed in
    expect(page.locator("#admin-panels")).to_be_visible()
    expect(page.locator("#token-form")).to_be_hidden()
    other_tab = page.context.new_page()  # another tab of the same browser: asked again
    other_tab.goto("/#/admin")
    expect(other_tab.get_by_label("Admin token")).to_be_visible()
    other_tab.close()

    page.get_by_role("button", name="Forget the token").click()
    expect(page.get_by_label("Admin token")).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0


def add_unindexed_products(base: str, count: int) -> None:
    """Products whose photos (noise, each new) the index has not seen: work for the next sync."""
    for number in range(count):
        body = {"sku": f"NEW-{uuid.uuid4().hex[:8]}", "name": f"New {number}", "category": "new"}
        product = api_json(f"{base}/admin/products", {**body, "price": 1, "currency": "EUR"}, headers=ADMIN)
        photo = io.BytesIO()
        Image.effect_noise((256, 256), 60).convert("RGB").save(photo, "JPEG")
        status, _ = post_multipart(
            f"{base}/admin/products/{product['id']}/images", "image", "new.jpg", photo.getvalue(), {}, ADMIN
        )
        assert status == 201


# Every state the progress bar and its label go through, noted as they change.
WATCH_PROGRESS = """() => {
  window.progressSeen = [];
  const progress = document.getElementById("sync-progress");
  const label = document.getElementById("sync-stage");
  const note = () => window.progressSeen.push({
    running: progress.dataset.running, label: label.textContent,
    value: progress.getAttribute("value"), max: progress.getAttribute("max"),
    button: document.getElementById("sync-button").disabled,
  });
  const observer = new MutationObserver(note);
  observer.observe(progress, { attributes: true });
  observer.observe(label, { childList: true, characterData: true, subtree: true });
}"""


def test_sync_now_shows_its_progress_then_the_report(admin_page: Page, admin_site: str) -> None:
    page = admin_page
    add_unindexed_products(admin_site, NEW_PHOTOS)
    page.goto("/#/admin")
    sign_in(page, ADMIN_TOKEN)
    expect(page.locator("#catalog-size")).to_have_text(str(24 + NEW_PHOTOS))
    drift = api_json(f"{admin_site}/admin/sync/drift", headers=ADMIN)
    assert drift["missing_points"] == NEW_PHOTOS and not drift["in_sync"]
    expect(page.locator("#drift-state")).to_have_text("The index is behind the catalog: sync to catch up.")
    expect(page.locator('#drift tr[data-key="missing_points"] td')).to_have_text(str(NEW_PHOTOS))

    page.evaluate(WATCH_PROGRESS)
    page.get_by_role("button", name="Sync now").click()
    expect(page.get_by_role("button", name="Sync now")).to_be_disabled()
    embedded = page.locator('#last-report tr[data-key="embedded"] td')
    expect(embedded).to_have_text(str(NEW_PHOTOS), timeout=120_000)
    expect(page.locator("#status")).to_have_text(f"Sync finished: {NEW_PHOTOS} embedded, 0 deleted.")

    seen = page.evaluate("window.progressSeen")
    running = [state for state in seen if state["running"] == "true"]
    assert running, f"the page never showed the sync running: {seen}"  # it polled while POST waited
    assert all(state["button"] for state in running)  # no second sync while one runs
    assert all(" of " in state["label"] or state["label"].endswith("…") for state in running), running
    counted = [state for state in running if state["value"] is not None and " of " in state["label"]]
    assert any(state["max"] == str(NEW_PHOTOS) for state in counted), seen  # "Embedding photos: 64 of 150"
    assert all(0 <= float(state["value"]) <= float(state["max"]) for state in counted), counted
    expect(page.locator("#sync-stage")).to_have_text("Idle")
    expect(page.get_by_role("button", name="Sync now")).to_be_enabled()
    expect(page.locator("#drift-state")).to_have_text("The index matches the catalog.")
    expect(page.locator('#drift tr[data-key="missing_points"] td')).to_have_text("0")
    assert api_json(f"{admin_site}/admin/sync/drift", headers=ADMIN)["in_sync"]
