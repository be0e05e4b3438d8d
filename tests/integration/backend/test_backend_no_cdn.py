"""No page of the service loads anything from a CDN: FastAPI's Swagger UI (``/docs``) and ReDoc
(``/redoc``) would, so they are off; the OpenAPI document stays (the fuzz test reads it)."""

from __future__ import annotations

import re

# A script, style sheet, image or frame taken from another origin (absolute or scheme-relative URL).
EXTERNAL = re.compile(rb"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)


def test_api_explorers_that_load_from_a_cdn_are_off(client):
    for path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
        assert client.get(path).status_code == 404, path
    spec = client.get("/openapi.json")
    assert spec.status_code == 200
    assert "/metric" in spec.json()["paths"]


def test_no_answer_of_a_plain_get_route_references_another_origin(client):
    """Every GET route without path parameters (pages redirect to the login page, which is fetched too)."""
    paths = sorted(
        route.path for route in client.app.routes if "GET" in getattr(route, "methods", ()) and "{" not in route.path
    )
    assert "/openapi.json" in paths
    for path in paths:
        answer = client.get(path)
        assert not EXTERNAL.search(answer.content), f"{path} references another origin"
