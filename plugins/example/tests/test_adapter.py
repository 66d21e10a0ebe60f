"""The adapter's own tests: records and errors translated, decisions polled end to end."""

from __future__ import annotations

import govsvc
import pytest
from govsvc.testing import make_case, make_item

from govsvc_example.adapter import ExampleAdapter
from govsvc_example.legacy import KNOWN_RESIDENT, CivilAffairsRegister
from govsvc_example.plugin import CODE

pytest_plugins = ["govsvc.testing"]

WANG = govsvc.PartyKey.of(KNOWN_RESIDENT)


def test_profile_translates_the_legacy_record() -> None:
    adapter = ExampleAdapter(CivilAffairsRegister())
    assert adapter.profile(WANG) == {
        "name": "王秀兰",
        "sex": "female",
        "birth_date": "1962-07-14",
        "address": "示例县城关镇民主街8号",
        "marital_status": "widowed",
    }


def test_a_register_that_is_down_is_unavailable() -> None:
    register = CivilAffairsRegister()
    register.online = False
    adapter = ExampleAdapter(register)
    with pytest.raises(govsvc.AdapterUnavailable, match="maintenance"):
        adapter.profile(WANG)
    assert adapter.health() is False


def test_a_malformed_record_names_the_field() -> None:
    register = CivilAffairsRegister()
    register.residents[KNOWN_RESIDENT]["xb"] = "3"  # GB/T 2261.1 has no code 3
    with pytest.raises(govsvc.AdapterProtocolError, match="not a code of 性别") as info:
        ExampleAdapter(register).profile(WANG)
    assert info.value.path == "$.xb"


def test_codes_meaning_not_recorded_are_left_out() -> None:
    register = CivilAffairsRegister()
    register.residents[KNOWN_RESIDENT]["hyzk"] = "90"  # 未说明的婚姻状况
    assert ExampleAdapter(register).profile(WANG)["marital_status"] is None


def test_a_denial_reaches_the_case(govsvc_platform: govsvc.Platform) -> None:
    register = govsvc_platform.departments[CODE].adapter.register
    item, version = make_item(CODE, agency_name="示例县民政局")
    system = govsvc_platform.system()
    system.catalogue.publish(item, version)
    case = make_case(govsvc_platform, item.implementation_code, accept=True)

    assert system.departments.deliver().delivered == 1
    assert system.departments.poll().pending == 1
    [serial] = register.tasks
    register.decide(serial, approved=False, opinion="家庭人均收入高于当地最低生活保障标准")
    assert system.departments.poll().decided == 1

    case = system.cases.get(case.id)
    assert case.state is govsvc.CaseState.DENIED
    assert case.decision is not None and case.decision.basis == "《社会救助暂行办法》"
    assert system.departments.verify_exchange_log().ok


def test_an_approval_issues_the_certificate(govsvc_platform: govsvc.Platform) -> None:
    register = govsvc_platform.departments[CODE].adapter.register
    item, version = make_item(CODE, agency_name="示例县民政局")
    system = govsvc_platform.system()
    system.catalogue.publish(item, version)
    case = make_case(govsvc_platform, item.implementation_code, accept=True)

    assert system.departments.deliver().delivered == 1
    [serial] = register.tasks
    register.decide(serial, approved=True, opinion="符合最低生活保障条件")
    assert system.departments.poll().decided == 1
    assert system.departments.fetch_results().issued == 1  # the worker fetches the licence

    case = system.cases.get(case.id)
    assert case.state is govsvc.CaseState.RESULT_READY
    assert case.result is not None
    assert case.result.number == register.certificates[serial]["zsbh"]
