"""Finding a service (事项) on the host: GET /api/v1/items?q=… and the portal's /items page."""

from __future__ import annotations

from typing import Any

import pytest

FOOD_NAME = "食品经营许可（新办）"


def test_search_puts_the_exact_name_first(host: Any) -> None:
    body = host.client().get("/api/v1/items", params={"q": FOOD_NAME}).json()
    first = body["items"][0]
    assert (first["name"], first["match"]) == (FOOD_NAME, "exact")
    assert first["item_type"] == "行政许可" and first["version"] is None  # a list, not the guide
    words = host.client().get("/api/v1/items", params={"q": "食品经营"}).json()["items"]
    assert FOOD_NAME in [i["name"] for i in words]


def test_browsing_by_facet_and_limit(host: Any) -> None:
    facets = host.platform.public().catalogue.facets()
    agency = next(iter(facets.departments))
    by_agency = host.client().get("/api/v1/items", params={"department": agency}).json()
    assert by_agency["items"] and {i["agency_code"] for i in by_agency["items"]} == {agency}
    one = host.client().get("/api/v1/items", params={"department": agency, "limit": 1}).json()
    assert len(one["items"]) == 1
    if len(by_agency["items"]) > 1:
        more = host.client().get("/api/v1/items", params={
            "department": agency, "limit": 1, "after": one["next"]}).json()
        assert more["items"][0]["code"] == by_agency["items"][1]["code"]
    if facets.themes:
        theme = next(iter(facets.themes))
        themed = host.client().get("/api/v1/items", params={"theme": theme}).json()["items"]
        assert themed and all(theme in i["themes"] for i in themed)
    nothing = host.client().get("/api/v1/items", params={"life_stage": "没有这个阶段"}).json()
    assert nothing == {"items": [], "next": None}


@pytest.mark.parametrize("q", ["食", "！？。", "x" * 200, '"', "*", "NEAR", "OR", "食品 OR 户口",
                               '食品" NEAR(', "   "])
def test_odd_queries_are_answered_not_errors(host: Any, q: str) -> None:
    response = host.client().get("/api/v1/items", params={"q": q})
    assert response.status_code == 200, response.text
    assert isinstance(response.json()["items"], list)


@pytest.mark.parametrize("params", [{"q": "x" * 201}, {"q": "食品", "limit": 0},
                                    {"q": "食品", "limit": 101}, {"limit": "many"}])
def test_out_of_range_parameters_are_422_naming_the_field(host: Any,
                                                           params: dict[str, Any]) -> None:
    response = host.client().get("/api/v1/items", params=params)
    assert response.status_code == 422
    assert next(iter(params.keys() - {"q"} or {"q"})) in response.text


@pytest.mark.parametrize("params", [{"q": "食品", "after": "bm9wZQ"},
                                    {"theme": "食品药品", "after": "WyJhIiwieCJd"},  # ["a","x"]
                                    {"theme": "食品药品", "after": "WzEsbnVsbF0"}])  # [1,null]
def test_a_cursor_not_given_out_is_refused(host: Any, params: dict[str, str]) -> None:
    response = host.client().get("/api/v1/items", params=params)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert "cursor" in response.text
    page = host.client().get("/items", params=params)
    assert page.status_code == 422 and "翻页链接已失效" in page.text


def test_the_search_parameters_are_documented(host: Any) -> None:
    spec = host.client().get("/openapi.json").json()
    names = {p["name"] for p in spec["paths"]["/api/v1/items"]["get"]["parameters"]}
    assert {"q", "department", "theme", "life_stage", "limit", "after"} <= names


def test_the_portal_search_keeps_the_query_and_finds_the_item(host: Any) -> None:
    page = host.client().get("/items", params={"q": "食品经营许可"})
    assert page.status_code == 200
    assert "搜索事项" in page.text and 'value="食品经营许可"' in page.text
    assert f">{FOOD_NAME}</a>" in page.text
    none = host.client().get("/items", params={"q": "没有的事项名称"})
    assert "没有找到相关事项" in none.text


def test_the_portal_browses_by_department_theme_and_life_stage(host: Any) -> None:
    facets = host.platform.public().catalogue.facets()
    page = host.client().get("/items")
    assert "主题" in page.text and "人生阶段" in page.text
    code, _ = next(iter(facets.departments.items()))
    assert f"department={code}" in page.text
    by_agency = host.client().get("/items", params={"department": code})
    assert by_agency.status_code == 200 and 'aria-current="true"' in by_agency.text


def test_the_portal_refuses_an_overlong_query_kindly(host: Any) -> None:
    page = host.client().get("/items", params={"q": "食" * 201})
    assert page.status_code == 422 and "搜索内容过长" in page.text


def test_the_portal_finds_an_item_by_the_licence_it_hands_out(host: Any) -> None:
    page = host.client().get("/items", params={"q": "食品经营许可证"})  # the licence's name
    assert page.status_code == 200 and f">{FOOD_NAME}</a>" in page.text
    assert "完全相符" not in page.text  # found as it was typed, not by a shorter beginning


def test_the_portal_offers_a_shorter_beginning_when_nothing_matches(host: Any) -> None:
    page = host.client().get("/items", params={"q": "食品经营许可申"})  # typed on too far
    assert page.status_code == 200
    assert "以下是“食品经营许可”的搜索结果" in page.text and f">{FOOD_NAME}</a>" in page.text
