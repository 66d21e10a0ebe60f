"""示例县民政局's legacy system, as the tutorial imagines it: a register kept in memory.

A real department's system sits behind HTTP or SOAP; this one is a plain object, so the
tutorial runs without a network. Its records use the legacy field names (pinyin initials:
xm 姓名, xb 性别, csrq 出生日期, zz 住址, hyzk 婚姻状况), which the adapter translates.
"""

from __future__ import annotations

import itertools
from typing import Any

KNOWN_RESIDENT = "230199196207141386"  # 王秀兰, in the register from the start


class CivilAffairsRegister:
    """The bureau's register: residents (居民), the review tasks (审核任务) of its clerks and
    the certificates (低保证) it issues."""

    def __init__(self) -> None:
        self.residents: dict[str, dict[str, str]] = {
            KNOWN_RESIDENT: {
                "xm": "王秀兰",
                "xb": "2",
                "csrq": "19620714",
                "zz": "示例县城关镇民主街8号",
                "hyzk": "30",
            }
        }
        self.tasks: dict[str, dict[str, Any]] = {}  # 业务流水号 -> task
        self.requests: dict[str, str] = {}  # request number given by the caller -> 业务流水号
        self.certificates: dict[str, dict[str, str]] = {}  # 业务流水号 -> certificate
        self.online = True
        self._serial = itertools.count(1)
        self._certificate_serial = itertools.count(1)

    def find_resident(self, sfzh: str) -> dict[str, str] | None:
        """The resident with this citizen ID (身份证号), or None."""
        self._check_online()
        return self.residents.get(sfzh)

    def open_task(self, request_no: str, sfzh: str, sxbm: str) -> str:
        """Open a review task; a request number seen before gets the task already opened."""
        self._check_online()
        if request_no not in self.requests:
            serial = f"MZ2026{next(self._serial):06d}"
            self.requests[request_no] = serial
            self.tasks[serial] = {"sfzh": sfzh, "sxbm": sxbm, "zt": "待审", "yj": "", "jbr": ""}
        return self.requests[request_no]

    def task(self, serial: str) -> dict[str, Any] | None:
        """A task by its 业务流水号: status zt is 待审, 通过, 不通过 or 已撤销 (withdrawn);
        yj is the opinion."""
        self._check_online()
        return self.tasks.get(serial)

    def issue_certificate(self, serial: str) -> dict[str, str] | None:
        """The certificate of an approved task (zsbh 证书编号, fzrq 发证日期), issued on the
        first request and the same one on every later request; None if not approved."""
        self._check_online()
        task = self.tasks.get(serial)
        if task is None or task["zt"] != "通过":
            return None
        if serial not in self.certificates:
            self.certificates[serial] = {
                "zsbh": f"示民低保证2026第{next(self._certificate_serial):06d}号",
                "fzrq": "20260302",
                "sfzh": task["sfzh"],
            }
        return self.certificates[serial]

    def withdraw_task(self, serial: str) -> None:
        """Withdraw a pending task (撤销); a task already withdrawn or decided is left as it is."""
        self._check_online()
        task = self.tasks.get(serial)
        if task is not None and task["zt"] == "待审":
            task.update(zt="已撤销", yj="申请人撤回申请")

    def decide(self, serial: str, *, approved: bool, opinion: str, clerk: str = "李明") -> None:
        """What a clerk does at the legacy terminal."""
        self.tasks[serial].update(zt="通过" if approved else "不通过", yj=opinion, jbr=clerk)

    def _check_online(self) -> None:
        if not self.online:
            raise ConnectionError("民政业务系统维护中 (the register is down for maintenance)")
