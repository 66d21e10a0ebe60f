"""The story of issue 10 in a real browser, one function per step (docs/story.md tells it).

冰城饺子馆's 张伟 logs in through the identity provider, finds 食品经营许可 in the guide,
applies without the floor plan (设备设施布局), gets the one-time notice (一次性告知), sends the
plan; 王芳 at the window accepts; 市场监管局 and 卫健委 approve in the back office; the licence
is issued and delivered; the supervisor (电子监察) sees the case in the statistics.

Each step acts only through pages, as the person would: clicking links and buttons, filling
fields, choosing files. Screenshots of the key pages go to docs/img/story/ when
GOVSVC_UPDATE_SCREENSHOTS=1 (``screenshot``).
"""

from __future__ import annotations

import re
from typing import Any

import attrs

from .conftest import Live, screenshot

FOOD = "食品经营许可（新办）"
COMPANY = "哈尔滨市冰城饺子馆有限公司"
CREDIT_CODE = "91230103MA1BX4K238"
AGENT = ("张伟", "230103198503120316")
# A floor plan as the scanner gives it: a PDF, recognised by its first bytes.
FLOOR_PLAN = (b"%PDF-1.4\n1 0 obj <</Type /Catalog>> endobj\n"
              b"% floor plan of the kitchen\ntrailer <</Root 1 0 R>>\n%%EOF\n")


@attrs.define
class Story:
    live: Live
    tabs: dict[str, Any] = attrs.Factory(dict)
    code: str = ""  # the case's tracking code (全程一码)

    def tab(self, username: str) -> Any:
        """The person's own browser (cookies), logged in on first use."""
        if username not in self.tabs:
            self.tabs[username] = self.live.page(username)
        page = self.tabs[username]
        return page

    def case_page(self, username: str) -> Any:
        page = self.tab(username)
        page.goto(f"{self.live.base}/cases/{self.code}")
        return page

    def close(self) -> None:
        for page in self.tabs.values():
            page.context.close()


def command(page: Any, name: str) -> Any:
    """The form of one command on the case page, its <details> opened."""
    form = page.locator(f'form[action$="/do/{name}"]').first
    details = page.locator("details", has=form)
    if details.count() and details.first.get_attribute("open") is None:
        details.first.locator("summary").click()
    return form


def nav(page: Any, name: str) -> None:
    """Follow the header's main navigation link ``name``."""
    page.get_by_role("navigation", name="主导航").get_by_role("link", name=name, exact=True).click()
    page.wait_for_load_state()


def state(page: Any) -> str:
    text: str = page.locator("dl.facts dd").first.inner_text()
    return text


# --- the steps -------------------------------------------------------------------------------


def citizen_logs_in_through_the_identity_provider(story: Story) -> None:
    live = story.live
    page = live.page()
    page.get_by_role("link", name="登录", exact=True).click()
    page.wait_for_selector('button[name="pick"]')
    assert page.url.startswith(live.idp), page.url  # the provider's own page
    screenshot(page, "01-identity-provider")
    page.locator('button[name="pick"][value="zhangwei.bingcheng"]').click()
    page.wait_for_url(f"{live.base}/")
    assert "经办人 张伟" in page.locator("header").inner_text()
    screenshot(page, "02-citizen-home")
    story.tabs["zhangwei.bingcheng"] = page


def citizen_finds_the_food_licence(story: Story) -> None:
    page = story.tab("zhangwei.bingcheng")
    nav(page, "办事指南")
    search = page.locator('main input[name="q"]')
    if search.count():  # the portal's search, where it is built
        search.fill("食品经营许可证")
        search.press("Enter")
        page.wait_for_load_state()
    screenshot(page, "03-search")
    page.get_by_role("link", name=FOOD).first.click()
    main = page.locator("main").inner_text()
    assert FOOD in main
    assert "与食品经营相适应的主要设备设施布局" in main  # the floor plan, listed as required
    screenshot(page, "04-item-guide")


def citizen_applies_without_the_floor_plan(story: Story) -> None:
    # At the window (一窗受理): 王芳 takes the application for the company 张伟 came for.
    page = story.tab("wangfang")
    nav(page, "一窗受理")
    page.get_by_label("申请人证件号码或统一社会信用代码（一号）").fill(CREDIT_CODE)
    page.get_by_role("button", name="查找").click()
    page.get_by_role("link", name=FOOD).click()
    page.get_by_label("经办人姓名").fill(AGENT[0])
    page.get_by_label("经办人身份证号码").fill(AGENT[1])
    for code, how in (("M01", "paper"), ("M02", "paper"), ("M03", "paper"), ("M04", "none"),
                      ("M05", "paper"), ("M06", "paper")):
        page.locator(f'select[name="how_{code}"]').select_option(how)
    page.get_by_label(re.compile("申请表信息")).fill(
        "经营场所：哈尔滨市南岗区学府路52号\n经营项目：热食类食品制售")
    screenshot(page, "05-window-apply")
    page.get_by_role("button", name="收件").click()
    page.wait_for_url(re.compile(r"/cases/\w+$"))
    story.code = page.url.rsplit("/", 1)[1]
    assert "已收件" in page.locator(".flash").inner_text()


def clerk_sends_the_one_time_notice(story: Story) -> None:
    page = story.case_page("wangfang")
    form = command(page, "prereview")
    form.get_by_role("button", name="预审").click()
    page.wait_for_load_state()
    notice = page.locator("h2:has-text('一次性告知') + ol").inner_text()
    assert "设备设施布局" in notice, notice
    screenshot(page, "06-one-time-notice", show=page.locator("h2:has-text('申请材料')"))


def citizen_supplements_the_floor_plan(story: Story) -> None:
    page = story.tab("zhangwei.bingcheng")
    nav(page, "我的")
    page.locator(f'a[href="/cases/{story.code}"]').first.click()
    form = command(page, "resubmit")
    form.locator('input[name="file_M04"]').set_input_files(
        files=[{"name": "设备设施布局平面图.pdf", "mimeType": "application/pdf",
                "buffer": FLOOR_PLAN}])
    form.get_by_role("button", name="提交补正").click()
    page.wait_for_load_state()
    assert page.locator("main").inner_text().count("设备设施布局平面图.pdf") >= 1
    screenshot(page, "07-supplemented")


def clerk_accepts(story: Story) -> None:
    page = story.case_page("wangfang")
    command(page, "accept").get_by_role("button", name="受理").click()
    page.wait_for_load_state()
    assert "受理时间" in page.locator("dl.facts").inner_text()
    screenshot(page, "08-accepted")


def two_departments_approve_in_the_back_office(story: Story) -> None:
    decided = []
    for reviewer in ("liming", "zhaomin"):  # 市场监管局, 卫健委
        page = story.tab(reviewer)
        nav(page, "审查任务")
        row = page.locator("tr", has=page.locator(f'a[href="/cases/{story.code}"]'))
        assert row.count() == 1, f"{reviewer}'s queue lacks {story.code}"
        if reviewer == "liming":
            screenshot(page, "09-backoffice-queue")
        row.locator("a").first.click()
        form = command(page, "decide")
        if reviewer == "zhaomin":
            screenshot(page, "10-decision", show=page.locator("h2:has-text('审查环节')"))
        form.get_by_role("radio", name="准予").check()
        form.get_by_label("理由").fill("经审查，经营场所与设备布局符合食品安全要求")
        form.get_by_role("button", name="提交审查意见").click()
        page.wait_for_load_state()
        decided.append(reviewer)
    assert "准予" in page.locator("main").inner_text()
    assert decided == ["liming", "zhaomin"]


def the_licence_is_issued_and_delivered(story: Story) -> None:
    page = story.case_page("liming")  # the implementing department 市场监管局 issues it
    form = command(page, "issue_result")
    form.get_by_label("证照编号").fill("JY12301030012345")
    form.get_by_role("button", name="制作结果").click()
    page.wait_for_load_state()
    assert "JY12301030012345" in page.locator("dl.facts").inner_text()
    page = story.case_page("wangfang")
    form = command(page, "complete")
    form.get_by_role("radio", name="电子送达").check()
    form.get_by_role("button", name="发放并办结").click()
    page.wait_for_load_state()
    assert "办结" in state(page)
    screenshot(page, "11-completed")


def supervisor_sees_the_case_in_the_statistics(story: Story) -> None:
    page = story.tab("zhoujie")
    nav(page, "电子监察")
    main = page.locator("main").inner_text()
    assert "哈尔滨市市场监督管理局" in main
    screenshot(page, "12-supervision")


STEPS = (
    citizen_logs_in_through_the_identity_provider,
    citizen_finds_the_food_licence,
    citizen_applies_without_the_floor_plan,
    clerk_sends_the_one_time_notice,
    citizen_supplements_the_floor_plan,
    clerk_accepts,
    two_departments_approve_in_the_back_office,
    the_licence_is_issued_and_delivered,
    supervisor_sees_the_case_in_the_statistics,
)


def test_the_food_licence_story_in_the_browser(live: Live) -> None:
    story = Story(live)
    try:
        for step in STEPS:
            step(story)
    finally:
        story.close()
