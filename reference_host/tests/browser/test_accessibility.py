"""WCAG 2.1 AA in a real browser: axe-core on every page each role reaches, elderly mode, keyboard.

axe-core comes bundled in the ``axe-playwright-python`` wheel (nothing is downloaded when
the tests run); it is evaluated in the page through the DevTools protocol, which the host's
Content Security Policy (no script at all) does not apply to. Any *serious* or *critical*
violation fails, listing the rule, its help text and the elements.

"Every page" is found, not listed: from each role's home page the test follows every link
(breadth first) and every GET form within the host, so pages other work adds are checked
as soon as they are linked. Links whose path differs only in identifiers (a tracking code,
an item code) count as one page.
"""

from __future__ import annotations

import html
import json
import re
from collections import deque
from typing import Any
from urllib.parse import urlsplit

import pytest
from axe_playwright_python.sync_playwright import Axe

from .conftest import ROLES, Live, screenshot

FOOD_ITEM = "11230100013114525L3000176010001"  # 食品经营许可（新办）

AXE = Axe()
# WCAG 2.0/2.1 A and AA rules, plus axe's best practices (landmarks, one h1, skip link …).
AXE_OPTIONS = {
    "resultTypes": ["violations"],
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa",
                                          "best-practice"]},
}
FAILING = ("serious", "critical")
MAX_PAGES = 30  # per role: the crawl's bound
# Not pages: what logs out, switches language or display, downloads a file, or leaves.
# The same for everyone but the header: checked once, by whichever role reaches them first.
PUBLIC = {"/items", "/items/*", "/track"}
SKIP = re.compile(r"^/(logout|login|lang/|display/|static/|auth/|api/|metrics|healthz|openapi)"
                  r"|/materials/|\.(csv|svg|png|pdf|json)$")


def shape(path: str) -> str:
    """/cases/ABCD-1234/receipt → /cases/*/receipt: identifiers are not new pages."""
    return "/".join("*" if re.search(r"\d", part) else part for part in path.split("/"))


def serious(page: Any) -> list[str]:
    """The serious and critical violations on the page, one line per rule."""
    if not page.evaluate("typeof axe !== 'undefined'"):
        page.evaluate(AXE.axe_script)  # where the context's init script did not put it
    results = page.evaluate(f"axe.run(document, {json.dumps(AXE_OPTIONS)})")
    found = []
    for v in results["violations"]:
        if v["impact"] in FAILING:
            targets = ", ".join(" ".join(n["target"]) for n in v["nodes"][:5])
            found.append(f"{page.url}: [{v['impact']}] {v['id']}: {v['help']} — {targets}")
    return found


def crawl(live: Live, page: Any, public: set[str], start: str = "/"
          ) -> tuple[list[str], list[str]]:
    """(pages checked, violations) over the host's pages reachable from ``start``."""
    queue, seen, checked, problems = deque([start]), set(public), [], []
    while queue and len(checked) < MAX_PAGES:
        target = queue.popleft()
        key = shape(urlsplit(target).path) + ("?" if urlsplit(target).query else "")
        if key in seen:
            continue
        seen.add(key)
        if key in PUBLIC:
            public.add(key)
        response = page.goto(live.base + target)
        assert response is not None and response.status < 500, f"{target}: {response}"
        checked.append(target)
        problems += serious(page)
        hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
        for href in hrefs:
            parts = urlsplit(href)
            if f"{parts.scheme}://{parts.netloc}" != live.base or SKIP.search(parts.path):
                continue
            queue.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return checked, problems


@pytest.fixture(scope="module")
def public() -> set[str]:
    return set()


@pytest.mark.parametrize("role", ["anonymous", *ROLES])
def test_every_page_a_role_reaches_has_no_serious_axe_violation(
    live: Live, role: str, public: set[str]
) -> None:
    page = live.page(ROLES.get(role))
    page.context.add_init_script(AXE.axe_script)  # in every page the crawl opens
    try:
        checked, problems = crawl(live, page, public)
    finally:
        page.context.close()
    assert len(checked) >= 2, f"{role} reached only {checked}"
    assert not problems, "\n".join(problems)


def test_the_identity_providers_login_page_has_no_serious_axe_violation(live: Live) -> None:
    page = live.page()
    try:
        page.goto(f"{live.base}/login?next=/")
        page.wait_for_selector('button[name="pick"]')
        assert not serious(page)
    finally:
        page.context.close()


def test_forms_in_error_have_a_summary_linked_to_each_field(live: Live) -> None:
    page = live.page(ROLES["clerk"], "/window")
    try:
        page.goto(f"{live.base}/track?code=&suffix=12")
        summary = page.locator(".error-summary")
        assert summary.get_attribute("role") == "alert"
        links = summary.locator("a")
        assert links.count() >= 1
        for i in range(links.count()):
            target = links.nth(i).get_attribute("href")
            assert target and target.startswith("#")
            field = page.locator(target)
            assert field.get_attribute("aria-invalid") == "true"
            described = field.get_attribute("aria-describedby")
            assert described and page.locator(f"#{described}").is_visible()
        links.first.click()  # the link moves the focus to the field
        assert page.evaluate("document.activeElement.getAttribute('aria-invalid')") == "true"
        assert not serious(page)
    finally:
        page.context.close()


def test_elderly_mode_enlarges_text_raises_contrast_and_persists_without_javascript(
    live: Live,
) -> None:
    # Without JavaScript (Playwright's locators need it, so the page's HTML is read as the
    # server sent it): the header's 长辈模式 link, followed, sets the cookie and the next
    # pages come in the elderly style.
    page = live.page(java_script_enabled=False)
    try:
        toggle = re.search(r'<a class="display" href="([^"]+)">长辈模式', page.content())
        assert toggle, "no 长辈模式 link in the header"
        page.goto(live.base + html.unescape(toggle.group(1)))
        assert page.url == f"{live.base}/"
        cookies = {c["name"]: c["value"] for c in page.context.cookies()}
        assert cookies.get("govsvc_display") == "elder"
        page.goto(f"{live.base}/items")  # it persists on the next page
        assert '<html lang="zh-Hans" class="elder">' in page.content()
        assert re.search(r'<a class="display" href="/display/standard[^"]*">标准模式', page.content())
    finally:
        page.context.close()
    standard, elder = live.page(), live.page()
    try:
        elder.context.add_cookies([{"name": "govsvc_display", "value": "elder",
                                    "url": live.base}])
        for p in (standard, elder):
            p.goto(f"{live.base}/items")
        size = "parseFloat(getComputedStyle(document.body).fontSize)"
        assert elder.evaluate(size) >= 1.25 * standard.evaluate(size)
        link = "getComputedStyle(document.querySelector('main a')).textDecorationLine"
        assert elder.evaluate(link) == "underline"
        elder.goto(f"{live.base}/items/{FOOD_ITEM}")
        screenshot(elder, "17-elder-mode")
        assert not serious(elder)
        elder.goto(f"{live.base}/display/standard?next=/items")
        assert elder.locator("html").get_attribute("class") is None
    finally:
        standard.context.close()
        elder.context.close()


def test_the_login_and_a_form_are_done_by_keyboard_alone(live: Live) -> None:
    page = live.page()
    try:
        page.keyboard.press("Tab")  # the first stop is the skip link
        first = page.evaluate("document.activeElement.textContent")
        assert "跳到主要内容" in first
        outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        assert outline != "none", "the focused element has no visible focus style"
        # Tab to the header's 登录 link and press Enter: the provider's login page.
        for _ in range(30):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.textContent.trim()") == "登录":
                break
        else:
            pytest.fail("登录 is not reachable by Tab")
        page.keyboard.press("Enter")
        page.wait_for_selector('input[name="username"]')
        # Username and password typed, submitted with Enter.
        for _ in range(30):
            if page.evaluate("document.activeElement.name") == "username":
                break
            page.keyboard.press("Tab")
        else:
            pytest.fail("the username field is not reachable by Tab")
        page.keyboard.type(ROLES["clerk"])
        page.keyboard.press("Tab")
        page.keyboard.type("govsvc-demo")
        page.keyboard.press("Enter")
        page.wait_for_url(f"{live.base}/")
        assert "王芳" in page.locator("header").inner_text()
        # A form: the window's applicant search, by Tab, typing and Enter.
        page.goto(f"{live.base}/window")
        for _ in range(40):
            if page.evaluate("document.activeElement.name") == "number":
                break
            page.keyboard.press("Tab")
        else:
            pytest.fail("the applicant number field is not reachable by Tab")
        page.keyboard.type("91230103MA1BX4K238")
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(r"/window\?number="))
        assert "哈尔滨市冰城饺子馆有限公司" in page.locator("main").inner_text()
    finally:
        page.context.close()
