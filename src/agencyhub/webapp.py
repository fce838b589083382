"""The web app (``frontend/``, built by Vite into ``frontend/dist``), served by the API
process itself: one origin, so the session cookie, CSRF rule and live socket work as
they do for the API.

* ``/assets/…`` are Vite's content-hashed files: cached for a year, immutable.
* Other files at the top of the build (manifest, service worker, icons) are served
  as they are, revalidated on every use so a new release reaches every phone.
* Every other path under ``/`` answers the app shell (``index.html``), so client-side
  routes (``/queue/…``, ``/invitations/<token>``) load directly; ``/api/…`` and
  ``/schema…`` keep the API's own problem+json 404.

HTML answers carry a Content-Security-Policy the app works under: no inline scripts,
nothing from another origin.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from litestar import Controller, MediaType, Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import File

from agencyhub.config import Settings
from agencyhub.dbadmin import PROJECT_ROOT
from agencyhub.errors import NotFound

DEFAULT_DIST = PROJECT_ROOT / "frontend" / "dist"
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "manifest-src 'self'",
        "worker-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}
# Paths that belong to the API: an unknown one there is the API's 404, not the shell.
API_ROOTS = frozenset({"api", "schema"})
NOT_BUILT = """<!doctype html><html lang="en"><meta charset="utf-8">
<title>AgencyHub</title><p>The web app is not built yet: run <code>make web</code>
(or <code>make demo</code>) and reload. The API answers under <code>/api/v1</code>.</p>
"""


def web_app_dir(settings: Settings) -> Path:
    return Path(settings.web_app_dir) if settings.web_app_dir else DEFAULT_DIST


def _inside(root: Path, relative: str) -> Path | None:
    """``root/relative`` if it is a file inside ``root`` (no ``..`` escapes)."""
    candidate = (root / relative).resolve()
    if candidate.is_file() and candidate.is_relative_to(root.resolve()):
        return candidate
    return None


def _file(path: Path, cache: str) -> File:
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if path.suffix == ".webmanifest":
        media_type = "application/manifest+json"
    return File(
        path=path,
        media_type=media_type,
        content_disposition_type="inline",
        headers={"Cache-Control": cache, "X-Content-Type-Options": "nosniff"},
    )


def _shell(settings: Settings) -> Response[bytes]:
    index = web_app_dir(settings) / "index.html"
    if not index.is_file():
        return Response(
            NOT_BUILT.encode(),
            media_type=MediaType.HTML,
            status_code=503,
            headers={"Cache-Control": "no-store", **SECURITY_HEADERS},
        )
    return Response(
        index.read_bytes(),
        media_type=MediaType.HTML,
        headers={"Cache-Control": REVALIDATE, **SECURITY_HEADERS},
    )


class WebAppController(Controller):
    path = ""
    include_in_schema = False

    @get("/", media_type=MediaType.HTML)
    async def shell(self, settings: NamedDependency[Settings]) -> Response[bytes]:
        return _shell(settings)

    @get("/{path:path}")
    async def any_path(
        self, settings: NamedDependency[Settings], path: FromPath[str]
    ) -> Response[bytes] | File:
        relative = path.lstrip("/")
        if relative.split("/", 1)[0] in API_ROOTS:
            raise NotFound(f"No such path: /{relative}.")
        root = web_app_dir(settings)
        if relative.startswith("assets/"):
            asset = _inside(root, relative)
            if asset is None:
                raise NotFound("No such asset.")
            return _file(asset, IMMUTABLE)
        top_level = _inside(root, relative) if "/" not in relative else None
        if top_level is not None and top_level.name != "index.html":
            return _file(top_level, REVALIDATE)
        return _shell(settings)
