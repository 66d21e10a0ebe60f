"""长辈模式 (elderly mode): a cookie set by a plain link; the pages carry it in <html class>."""

from __future__ import annotations

from typing import Any


def test_the_elder_link_sets_the_cookie_and_the_pages_follow_it(host: Any) -> None:
    client = host.client()
    page = client.get("/items")
    assert 'href="/display/elder?next=/items"' in page.text and 'class="elder"' not in page.text
    switched = client.get("/display/elder", params={"next": "/items"})
    assert switched.status_code == 303 and switched.headers["location"] == "/items"
    cookie = switched.headers["set-cookie"]
    assert "govsvc_display=elder" in cookie and "HttpOnly" in cookie and "Max-Age=31536000" in cookie
    page = client.get("/items")
    assert '<html lang="zh-Hans" class="elder">' in page.text
    assert 'href="/display/standard?next=/items"' in page.text
    back = client.get("/display/standard")
    assert back.headers["location"] == "/" and "govsvc_display=standard" in back.headers["set-cookie"]
    assert 'class="elder"' not in client.get("/items").text


def test_an_unknown_mode_or_a_foreign_next_changes_nothing(host: Any) -> None:
    client = host.client()
    unknown = client.get("/display/huge", params={"next": "/track"})
    assert unknown.status_code == 303 and "set-cookie" not in unknown.headers
    away = client.get("/display/elder", params={"next": "//evil.example/"})
    assert away.headers["location"] == "/"  # only paths of this site
    away = client.get("/display/elder", params={"next": "https://evil.example/"})
    assert away.headers["location"] == "/"
