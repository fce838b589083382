"""The security headers every answer carries (applied by ``web.security_headers_middleware``
and, for answers no route produced, by the problem+json handlers)."""

from __future__ import annotations

# An API answer is data, never a page: it may load nothing and sit in no frame.
API_CONTENT_SECURITY_POLICY = "default-src 'none'; frame-ancestors 'none'"
BASELINE = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
}
HSTS = {"strict-transport-security": "max-age=31536000; includeSubDomains"}
# The API docs page: Swagger UI from this origin only (its start-up script is inline).
DOCS_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline';"
    " img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def security_headers(path: str, *, production: bool) -> dict[str, str]:
    """What an answer to ``path`` must carry (a route's own value of one wins)."""
    headers = dict(BASELINE)
    if production:
        headers.update(HSTS)
    if path.startswith("/api/"):
        headers["content-security-policy"] = API_CONTENT_SECURITY_POLICY
    elif path == "/schema" or path.startswith("/schema/"):
        headers["content-security-policy"] = DOCS_CONTENT_SECURITY_POLICY
    return headers
