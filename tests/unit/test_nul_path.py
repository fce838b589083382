"""Where a decoded JSON body holds U+0000 (the before-request guard names that field)."""

from __future__ import annotations

from agencyhub.web import nul_path


def test_names_the_field_at_any_depth() -> None:
    assert nul_path({"items": [{"draftId": "x"}, {"wording": "a\x00b"}]}) == "items[1].wording"
    assert nul_path({"data": {"body": "\x00"}}) == "data.body"
    assert nul_path(["ok", "\x00"]) == "[1]"


def test_a_key_with_nul_is_named_too() -> None:
    assert nul_path({"na\x00me": "x"}) == "na\x00me"


def test_clean_values_have_no_path() -> None:
    assert nul_path({"name": "Kaffee \\u0000", "n": 1, "ok": True, "x": None}) is None
