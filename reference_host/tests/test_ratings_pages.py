"""好差评 pages through the ASGI app, logged in as the demo people: rate a finished case, the
department's rectification queue and answer, the rater's second rating, an appeal decided by
a supervisor, the window visit's QR on the receipt, and the refusals (an unfinished case, a
second rating) with the reason in Chinese and the form keeping what was typed."""

from __future__ import annotations

import html
import re
from typing import Any

import govsvc

CSRF = "csrf-token-for-tests-0001"
SAMR, HEALTH = "11230100013114525L", "11230100MB1935270B"
AGENT = "zhangwei.bingcheng"  # 张伟 acting for 哈尔滨市冰城饺子馆有限公司, the food case's applicant


def rating_id(response: Any) -> str:
    assert response.status_code == 303, response.text[:500]
    found = re.fullmatch(r"/ratings/([0-9a-f]+)", response.headers["location"])
    assert found, response.headers["location"]
    return found.group(1)


def text_of(page: Any) -> str:
    return html.unescape(page.text)


def test_the_rater_rates_the_department_answers_and_the_rater_rates_again(host: Any) -> None:
    case = host.finish(host.food_case())
    agent = host.client(AGENT)
    page = agent.get(f"/cases/{case.tracking_code}")
    assert f'href="/cases/{case.tracking_code}/rate"' in page.text  # 评价 on a finished case
    form = agent.get(f"/cases/{case.tracking_code}/rate")
    assert form.status_code == 200 and 'value="非常不满意"' in form.text
    rated = agent.post(f"/cases/{case.tracking_code}/rate",
                       data={"csrf_token": CSRF, "level": "非常不满意", "text": "等候时间太长"})
    rid = rating_id(rated)
    shown = text_of(agent.get(f"/ratings/{rid}"))
    assert "非常不满意" in shown and "待整改" in shown and "等候时间太长" in shown
    # The form page now leads to the rating: one rating per case.
    assert agent.get(f"/cases/{case.tracking_code}/rate").headers["location"] == f"/ratings/{rid}"

    # SAMR, the implementing agency, answers for it: its queue lists it, masked.
    reviewer = host.client("liming")
    queue = text_of(reviewer.get("/ratings"))
    assert f"/ratings/{rid}" in queue and "张*" in queue
    assert f"/ratings/{rid}" not in text_of(host.client("zhaomin").get("/ratings"))  # HEALTH's
    detail = reviewer.get(f"/ratings/{rid}")
    assert 'action="/ratings/' + rid + '/do/answer"' in detail.text
    version = host.platform.system().ratings.get(rid).version
    empty = reviewer.post(f"/ratings/{rid}/do/answer",
                          data={"csrf_token": CSRF, "version": str(version), "answer": ""})
    assert empty.status_code == 422 and "请填写整改情况" in text_of(empty)
    answered = reviewer.post(f"/ratings/{rid}/do/answer", data={
        "csrf_token": CSRF, "version": str(version), "answer": "已增设窗口，高峰时段分流"})
    assert answered.status_code == 303

    # The rater sees the answer and rates once more.
    seen = text_of(agent.get(f"/ratings/{rid}"))
    assert "已增设窗口，高峰时段分流" in seen and "已整改回访" in seen
    assert f'action="/ratings/{rid}/do/rerate"' in seen
    version = host.platform.system().ratings.get(rid).version
    again = agent.post(f"/ratings/{rid}/do/rerate",
                       data={"csrf_token": CSRF, "version": str(version), "level": "满意"})
    assert again.status_code == 303
    final = host.platform.system().ratings.get(rid)
    assert final.second is not None and final.second.level is govsvc.RatingLevel.SATISFIED
    assert "再次评价" in text_of(agent.get(f"/ratings/{rid}"))
    mine = text_of(agent.get("/ratings/mine"))
    assert f"/ratings/{rid}" in mine and "满意" in mine


def test_an_unfinished_case_and_a_second_rating_are_refused_in_chinese(host: Any) -> None:
    open_case = host.food_case()
    agent = host.client(AGENT)
    refused = agent.post(f"/cases/{open_case.tracking_code}/rate",
                         data={"csrf_token": CSRF, "level": "满意", "text": "还没办完就想评"})
    page = text_of(refused)
    assert refused.status_code == 409
    assert f"该办件尚未办结（当前状态：{govsvc.CaseState.IN_REVIEW.label}），办结后才能评价" in page
    assert "还没办完就想评" in page and 'value="满意" checked' in refused.text  # input kept
    assert host.platform.system().ratings.of_case(open_case) is None  # nothing stored

    done = host.finish(host.food_case())
    first = agent.post(f"/cases/{done.tracking_code}/rate", data={"csrf_token": CSRF,
                                                                  "level": "满意"})
    rating_id(first)
    second = agent.post(f"/cases/{done.tracking_code}/rate",
                        data={"csrf_token": CSRF, "level": "不满意", "text": "改主意了"})
    assert second.status_code == 409
    assert "该事项已经评价过：一事一评" in text_of(second) and "改主意了" in text_of(second)
    stored = host.platform.system().ratings.of_case(done)
    assert stored is not None and stored.level is govsvc.RatingLevel.SATISFIED

    missing = agent.post(f"/cases/{done.tracking_code}/rate", data={"csrf_token": CSRF})
    assert missing.status_code == 422 and "请选择满意程度" in text_of(missing)


def test_an_appeal_is_decided_by_the_supervisor(host: Any) -> None:
    case = host.finish(host.food_case())
    agent = host.client(AGENT)
    rid = rating_id(agent.post(f"/cases/{case.tracking_code}/rate",
                               data={"csrf_token": CSRF, "level": "非常不满意", "text": "骂人话"}))
    leader = host.client("chenqiang")  # SAMR's approver lodges the appeal (申诉)
    version = host.platform.system().ratings.get(rid).version
    no_ground = leader.post(f"/ratings/{rid}/do/appeal",
                            data={"csrf_token": CSRF, "version": str(version), "reason": "x"})
    assert no_ground.status_code == 422 and "请选择申诉理由" in text_of(no_ground)
    appealed = leader.post(f"/ratings/{rid}/do/appeal", data={
        "csrf_token": CSRF, "version": str(version), "ground": "malicious",
        "reason": "评价内容与服务无关，含辱骂"})
    assert appealed.status_code == 303
    supervisor = host.client("zhoujie")
    assert f"/ratings/{rid}" in supervisor.get("/ratings", params={"status": "appealed"}).text
    version = host.platform.system().ratings.get(rid).version
    decided = supervisor.post(f"/ratings/{rid}/do/decide_appeal", data={
        "csrf_token": CSRF, "version": str(version), "upheld": "yes",
        "reason": "经核实属恶意差评"})
    assert decided.status_code == 303
    shown = text_of(supervisor.get(f"/ratings/{rid}"))
    assert "申诉成立" in shown and "经核实属恶意差评" in shown
    assert host.platform.system().ratings.get(rid).excluded is govsvc.Exclusion.MALICIOUS
    # A stale form (the version moved on) is refused rather than applied.
    stale = leader.post(f"/ratings/{rid}/do/appeal", data={
        "csrf_token": CSRF, "version": "1", "ground": "mistaken", "reason": "再申诉"})
    assert stale.status_code == 409


def test_the_window_receipt_carries_a_qr_to_rate_that_visit(host: Any) -> None:
    case = host.food_case()  # taken at the window by 王芳
    receipt = host.client("wangfang").get(f"/cases/{case.tracking_code}/receipt")
    assert receipt.status_code == 200
    assert receipt.text.count("<svg") == 2 and "扫码评价本次窗口服务" in text_of(receipt)
    occasion = f"{case.tracking_code}-v{case.version}"
    agent = host.client(AGENT)
    form = agent.get("/rate/visit", params={"case": case.tracking_code, "occasion": occasion})
    assert form.status_code == 200 and occasion in form.text
    rated = agent.post("/rate/visit", data={"csrf_token": CSRF, "case": case.tracking_code,
                                            "occasion": occasion, "level": "非常满意"})
    rid = rating_id(rated)
    rating = host.platform.system().ratings.get(rid)
    assert rating.basis is govsvc.RatingBasis.OCCASION
    assert rating.channel is govsvc.RatingChannel.QR_CODE and rating.agency == SAMR
    twice = agent.post("/rate/visit", data={"csrf_token": CSRF, "case": case.tracking_code,
                                            "occasion": occasion, "level": "满意"})
    assert twice.status_code == 409 and "一次一评" in text_of(twice)
    bad = agent.get("/rate/visit", params={"case": case.tracking_code, "occasion": "<x>"})
    assert bad.status_code == 422
    # An online case's receipt has only the tracking QR: no window visit to rate.
    online = host.shop_case()
    own = host.client("zhangwei").get(f"/cases/{online.tracking_code}/receipt")
    assert own.status_code == 200 and own.text.count("<svg") == 1


def test_the_rating_pages_come_in_english_from_the_catalogue(host: Any) -> None:
    case = host.finish(host.food_case())
    agent = host.client(AGENT)
    assert agent.get("/lang/en?next=/").status_code == 303
    form = agent.get(f"/cases/{case.tracking_code}/rate")
    assert "How satisfied are you with this service?" in form.text
    assert "Very dissatisfied" in form.text and 'value="非常不满意"' in form.text  # ids stay
    reviewer = host.client("liming")
    reviewer.get("/lang/en?next=/")
    assert "Rectifications" in reviewer.get("/ratings").text
