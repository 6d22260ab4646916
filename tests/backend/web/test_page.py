"""The page's files as the server hands them out: all there, all local, under a strict policy."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from backend.web.page import STATIC

# What would make a browser fetch from elsewhere: a URL in src/href, an import, url(), fetch().
REMOTE = re.compile(
    r"""(?:src|href)\s*=\s*["']?(?:https?:)?//|from\s+["'](?:https?:)?//|url\(\s*["']?(?:https?:)?//|fetch\(\s*["'`](?:https?:)?//"""
)


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """The page does not depend on the catalog's database: SQLite only."""
    from backend.catalog.database import upgrade_schema

    url = f"sqlite:///{tmp_path}/catalog.sqlite3"
    upgrade_schema(url)
    return url


def test_the_page_and_every_file_it_names_are_served_under_the_policy(client: FlaskClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and page.mimetype == "text/html"
    policy = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy and "script-src 'self'" in policy
    html = page.get_data(as_text=True)
    page.close()
    named = re.findall(r"""(?:src|href)="(/page/[^"]+)\"""", html)
    assert {"/page/app.js", "/page/style.css"} <= set(named)
    modules = {path.name for path in STATIC.glob("*.js")}
    for script in STATIC.glob("*.js"):  # every module a module imports is there
        for imported in re.findall(r"""from\s+"\./([^"]+)\"""", script.read_text()):
            assert imported in modules, (script.name, imported)
    for path in [*named, *(f"/page/{name}" for name in modules)]:
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.headers["Content-Security-Policy"] == policy
        if path.endswith(".js"):  # module scripts load only with a JavaScript type
            assert response.mimetype in ("text/javascript", "application/javascript"), path
        response.close()


def test_no_file_of_the_page_fetches_anything_from_elsewhere() -> None:
    files = [path for path in STATIC.iterdir() if path.suffix in (".html", ".js", ".css", ".svg")]
    assert len(files) >= 5
    for path in files:
        assert not REMOTE.search(path.read_text()), path.name


def test_the_api_keeps_its_paths_and_json_errors(client: FlaskClient) -> None:
    assert client.get("/health").is_json
    missing = client.get("/no-such-page")
    assert missing.status_code == 404 and missing.json["error"]["code"] == "not_found"  # type: ignore[index]
    assert "Content-Security-Policy" not in client.get("/health").headers  # the page's policy is the page's
