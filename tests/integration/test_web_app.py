"""The web app as the server answers it: the shell for client-side routes, hashed
assets cached for a year, the API's own 404 under /api, a CSP on the HTML, and the
committed OpenAPI document the frontend's types are generated from."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from litestar.testing import AsyncTestClient

from agencyhub.app import create_app
from agencyhub.web import openapi_json
from agencyhub.webapp import CONTENT_SECURITY_POLICY, IMMUTABLE, _inside
from tests.conftest import REPO_ROOT, test_settings

SHELL = b'<!doctype html><div id="root"></div><script type="module" src="/assets/app-1a2b.js">'


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    """A build as Vite lays it out."""
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_bytes(SHELL)
    (tmp_path / "assets" / "app-1a2b.js").write_text("console.log('app')")
    (tmp_path / "manifest.webmanifest").write_text('{"name": "AgencyHub"}')
    (tmp_path / "secret.txt").write_text("outside")
    return tmp_path


@pytest_asyncio.fixture
async def web(
    dist: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    data = tmp_path_factory.mktemp("web-db")
    settings = test_settings(f"sqlite+aiosqlite:///{data / 'db.sqlite'}", web_app_dir=str(dist))
    async with AsyncTestClient(
        app=create_app(settings), base_url="http://testserver.local"
    ) as client:
        yield client


@pytest.mark.parametrize("path", ["/", "/clients/42/queue", "/invitations/abc-token", "/drafts/x"])
async def test_every_app_route_answers_the_shell_with_a_content_security_policy(web, path):
    response = await web.get(path)
    assert response.status_code == 200
    assert response.content == SHELL
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY
    assert "unsafe-inline" not in CONTENT_SECURITY_POLICY
    assert response.headers["x-frame-options"] == "DENY"


async def test_hashed_assets_are_cached_for_a_year(web):
    response = await web.get("/assets/app-1a2b.js")
    assert response.status_code == 200
    assert response.text == "console.log('app')"
    assert response.headers["cache-control"] == IMMUTABLE
    assert response.headers["content-type"].startswith("text/javascript")


async def test_top_level_files_are_served_and_revalidated(web):
    response = await web.get("/manifest.webmanifest")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/manifest+json")
    assert response.headers["cache-control"] == "no-cache"


async def test_a_missing_asset_is_a_404_not_the_shell(web):
    response = await web.get("/assets/missing.js")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


def test_no_path_leads_out_of_the_build(dist):
    (dist.parent / "outside.txt").write_text("secret")
    assert _inside(dist, "assets/app-1a2b.js") == (dist / "assets" / "app-1a2b.js").resolve()
    assert _inside(dist, "../outside.txt") is None
    assert _inside(dist, "assets/../../outside.txt") is None
    assert _inside(dist, "assets") is None  # a folder is not a file


@pytest.mark.parametrize("path", ["/api/v1/no-such-thing", "/api", "/api/v2/me"])
async def test_unknown_api_paths_keep_the_apis_problem_json_404(web, path):
    response = await web.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_the_api_still_answers_beside_the_app(web):
    assert (await web.get("/healthz")).json() == {"status": "ok"}
    assert (await web.get("/api/v1/me")).status_code == 401


async def test_without_a_build_the_shell_says_how_to_build_it(tmp_path):
    settings = test_settings(
        f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}", web_app_dir=str(tmp_path / "none")
    )
    async with AsyncTestClient(app=create_app(settings)) as client:
        response = await client.get("/clients/1/queue")
    assert response.status_code == 503
    assert "make web" in response.text


def test_the_committed_openapi_document_is_the_apps():
    """frontend/openapi.json feeds the generated TypeScript types (`make api-types`);
    `npm run check-api-types` checks the types against it, this checks it against the app."""
    settings = dataclasses.replace(test_settings("sqlite+aiosqlite://"), web_app_dir="")
    committed = (REPO_ROOT / "frontend" / "openapi.json").read_text(encoding="utf-8")
    assert committed == openapi_json(create_app(settings)), "run `make api-types`"


def test_the_app_never_renders_content_as_html():
    """Drafts, comments and inbound items are people's text: the app renders it as text
    (React escapes it), never through dangerouslySetInnerHTML or innerHTML."""
    sources = sorted((REPO_ROOT / "frontend" / "src").rglob("*.ts*"))
    assert len(sources) > 20
    offenders = [
        str(path.relative_to(REPO_ROOT))
        for path in sources
        if any(
            word in path.read_text(encoding="utf-8")
            for word in ("dangerouslySetInnerHTML", "innerHTML")
        )
    ]
    assert offenders == []
