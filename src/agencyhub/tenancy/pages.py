"""Two small server-sent pages until the React app lands: sign-in and invitation links.

They only call the public API (``/api/v1``); no logic lives here.
"""

from __future__ import annotations

from importlib.resources import files

from litestar import Controller, MediaType, get
from litestar.params import FromPath

_PAGES = files("agencyhub.tenancy").joinpath("page_templates")


def _page(name: str) -> str:
    return _PAGES.joinpath(name).read_text(encoding="utf-8")


class InvitationPage(Controller):
    path = ""
    include_in_schema = False

    @get("/", media_type=MediaType.HTML)
    async def home(self) -> str:
        return _page("home.html")

    @get("/invitations/{token:str}", media_type=MediaType.HTML)
    async def invitation(self, token: FromPath[str]) -> str:
        return _page("invitation.html")
