"""The published contract: OpenAPI 3.1 at /openapi.json covering every route, and /docs offline."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient

# Routes outside the JSON API: the page (/ and /page/*), the docs themselves and Prometheus' text format.
UNDOCUMENTED = re.compile(r"^/($|page/|static|docs|openapi\.json|metrics)")


def test_openapi_document_is_3_1_and_covers_every_route(app: Flask, client: FlaskClient) -> None:
    document = client.get("/openapi.json").json
    assert document["openapi"].startswith("3.1")
    documented = {(path, method.upper()) for path, item in document["paths"].items() for method in item}
    for rule in app.url_map.iter_rules():
        if UNDOCUMENTED.match(rule.rule):
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (path, method) in documented, (path, method)
    search = document["paths"]["/search"]["post"]
    assert "multipart/form-data" in search["requestBody"]["content"]
    assert {"200", "400", "413", "415"} <= set(search["responses"])
    recommend = document["paths"]["/recommendations"]["post"]["requestBody"]["content"]
    assert {"application/json", "multipart/form-data"} <= set(recommend)
    assert document["paths"]["/admin/products"]["post"]["security"] == [{"admin_token": []}]
    assert document["components"]["securitySchemes"]["admin_token"]["scheme"] == "bearer"


def test_docs_need_nothing_from_the_internet(client: FlaskClient) -> None:
    page = client.get("/docs", follow_redirects=True)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "swagger" in html.lower()
    assert not re.search(r"""(src|href)=["']https?://""", html), "the page loads something from the internet"
    assets = re.findall(r"""(?:src|href)=["']([^"']+\.(?:js|css))["']""", html)
    assert assets
    for asset in assets:
        url = asset if asset.startswith("/") else f"/docs/{asset.removeprefix('./')}"
        response = client.get(url)
        assert response.status_code == 200 and response.get_data(), url
        response.close()
