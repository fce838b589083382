"""Builders for approvals tests: a channel, an inbound item, drafts in any state."""

from __future__ import annotations

from typing import Any

from tests.factories import World
from tests.helpers import Caller


async def make_channel(
    caller: Caller, client_id: Any, platform: str = "instagram", handle: str = "@shop"
) -> dict[str, Any]:
    response = await caller.post(
        f"/api/v1/clients/{client_id}/channels", json={"platform": platform, "handle": handle}
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def make_inbound(
    caller: Caller, client_id: Any, channel_id: str, external_id: str = "c-1", **extra: Any
) -> dict[str, Any]:
    body = {
        "channelId": channel_id,
        "externalId": external_id,
        "kind": "comment",
        "body": "Warum ist das Brot heute so teuer?",
        **extra,
    }
    response = await caller.post(f"/api/v1/clients/{client_id}/inbound-items", json=body)
    assert response.status_code in (200, 201), response.text
    return dict(response.json())


async def make_post(
    caller: Caller,
    client_id: Any,
    channel_id: str,
    body: str = "Frische Brötchen ab 6 Uhr!",
    **extra: Any,
) -> dict[str, Any]:
    response = await caller.post(
        f"/api/v1/clients/{client_id}/drafts",
        json={"kind": "post", "channelId": channel_id, "body": body, **extra},
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def submit(caller: Caller, draft: dict[str, Any]) -> dict[str, Any]:
    response = await caller.post(
        f"/api/v1/drafts/{draft['id']}/submit", json={"version": draft["version"]}
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


async def decide(
    caller: Caller, draft: dict[str, Any], decision: str = "approve", **extra: Any
) -> Any:
    return await caller.post(
        f"/api/v1/drafts/{draft['id']}/decisions",
        json={"decision": decision, "version": draft["version"], **extra},
    )


def client_of(world: World, key: str = "a1") -> Any:
    return world.clients[key].id
