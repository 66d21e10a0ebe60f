"""The whole demo system in a real browser: Playwright for Python driving Debian's chromium.

One system per test session (``govsvc_host.demo.demo_system``, as ``make demo`` starts it):
the four departments' simulated legacy systems, the demo identity provider and the host on a
fresh SQLite file, the host served by uvicorn on a free loopback port, the background jobs in
a thread. Logins go through the provider's real login page in the browser (the demo person's
button), so the cookies, redirects and PKCE are the real ones.

The browser is ``/usr/bin/chromium`` (``apt-get install chromium fonts-wqy-microhei``), never
one downloaded by ``playwright install``. Without it these tests skip, saying so, unless
``GOVSVC_REQUIRE_BROWSER=1`` (CI) makes that a failure.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
VIEWPORT = {"width": 1280, "height": 800}
SCREENSHOTS = Path(__file__).resolve().parents[3] / "docs" / "img" / "story"

# The demo's people, one per role the host has pages for (reference_host/.../idp/demo.toml).
ROLES = {
    "citizen": "zhangwei",            # 申请人 张伟
    "agent": "zhangwei.bingcheng",    # 经办人 张伟 for 冰城饺子馆
    "clerk": "wangfang",              # 窗口 王芳
    "reviewer": "liming",             # 市场监管局 审查 李明
    "approver": "chenqiang",          # 市场监管局 审批负责人 陈强
    "supervisor": "zhoujie",          # 电子监察 周洁
    "admin": "zhenghao",              # 系统管理员 郑浩
}


def _require_browser() -> None:
    if CHROMIUM.exists():
        return
    reason = (f"{CHROMIUM} is missing: `apt-get install -y chromium fonts-wqy-microhei` "
              "runs the browser tests")
    if os.environ.get("GOVSVC_REQUIRE_BROWSER") == "1":
        pytest.fail(reason + " (GOVSVC_REQUIRE_BROWSER=1 demands them)")
    pytest.skip(reason)


def _free_port() -> int:
    # The host's base URL (its OIDC redirect URI) must be known before it listens.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@attrs.define
class Live:
    """The running demo system, and a way to open a logged-in browser tab on it."""

    base: str
    idp: str
    system: Any  # govsvc_host.demo.DemoSystem
    browser: Any  # playwright Browser

    def context(self, **options: Any) -> Any:
        context = self.browser.new_context(viewport=VIEWPORT, locale="zh-CN", **options)
        context.set_default_timeout(15_000)  # a step that waits longer has failed
        return context

    def page(self, username: str | None = None, path: str = "/", **options: Any) -> Any:
        """A new tab (its own cookies); logged in as ``username`` through the provider."""
        page = self.context(**options).new_page()
        if username is None:
            page.goto(self.base + path)
        else:
            self.login(page, username, path)
        return page

    def login(self, page: Any, username: str, path: str = "/") -> None:
        page.goto(f"{self.base}/login?next={path}")
        page.wait_for_url(re.compile(re.escape(self.idp) + "/"))
        page.locator(f'button[name="pick"][value="{username}"]').click()
        page.wait_for_url(re.compile(re.escape(self.base) + "/"))


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    _require_browser()
    from govsvc_host.demo import SIMULATORS, demo_system
    from govsvc_host.serving import serve_in_thread
    from playwright.sync_api import sync_playwright

    saved = {env: os.environ.get(env) for _, env in SIMULATORS}  # the demo exports them
    port = _free_port()
    data = tmp_path_factory.mktemp("browser-demo")
    try:
        with (
            demo_system(data, port=port, idp_port=0) as system,
            serve_in_thread(system.app, port, name="host") as base,
            sync_playwright() as playwright,
        ):
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM),
                                                 args=CHROMIUM_ARGS)
            try:
                yield Live(base, system.idp_url, system, browser)
            finally:
                browser.close()
    finally:
        for env, value in saved.items():
            if value is None:
                os.environ.pop(env, None)
            else:
                os.environ[env] = value


def screenshot(page: Any, name: str, show: Any = None) -> None:
    """Save docs/img/story/NAME.png, only when GOVSVC_UPDATE_SCREENSHOTS=1.

    ``show`` (a locator) is scrolled to the top of the viewport first, for what is below the
    fold.

    The PNGs are the viewport (1280×800), quantised to 64 colours by Pillow so the docs stay
    small; the page's text is still crisp at that palette.
    """
    if os.environ.get("GOVSVC_UPDATE_SCREENSHOTS") != "1":
        return
    import io

    from PIL import Image

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    if show is not None:
        show.first.evaluate("e => e.scrollIntoView({block: 'start'})")
    raw = Image.open(io.BytesIO(page.screenshot()))
    small = raw.convert("RGB").quantize(colors=64, method=Image.Quantize.MEDIANCUT)
    small.save(SCREENSHOTS / f"{name}.png", optimize=True)
