"""SDK errors → HTTP: RFC 9457 problem details for the API, a Chinese page for browsers.

One table maps each :class:`govsvc.GovsvcError` class to a status, so the API and the pages
agree: a refusal by the policy is 403 (the SDK has already written it to the access log), a
case or item that does not exist 404, a command the case's state does not allow or a stale
copy 409, bad input 422, a department that is down 503.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Field
from starlette.responses import JSONResponse

import govsvc

__all__ = ["FieldError", "Problem", "problem_response", "status_of"]

PROBLEM_TYPE = "https://govsvc.example/problems/"

_STATUS: tuple[tuple[type[BaseException], int, str, str], ...] = (
    (govsvc.PermissionDenied, 403, "permission-denied", "无权进行此操作"),
    (govsvc.CaseNotFound, 404, "case-not-found", "未找到办件"),
    (govsvc.UnknownItem, 404, "unknown-item", "未找到事项"),
    (govsvc.NotFound, 404, "not-found", "未找到"),
    (govsvc.ConcurrentUpdate, 409, "concurrent-update", "办件已被他人更新"),
    (govsvc.InvalidTransition, 409, "invalid-transition", "当前状态不允许此操作"),
    (govsvc.CalendarDataMissing, 409, "calendar-missing", "缺少工作日历数据"),
    (govsvc.AdapterUnavailable, 503, "department-unavailable", "部门系统暂不可用"),
    (govsvc.AdapterError, 502, "department-error", "部门系统返回错误"),
    (govsvc.InvalidInput, 422, "invalid-input", "输入有误"),
    (govsvc.GovsvcError, 422, "invalid-input", "输入有误"),
)


def status_of(exc: BaseException) -> tuple[int, str, str]:
    """(HTTP status, problem type slug, Chinese title) for an SDK error."""
    for cls, status, slug, title in _STATUS:
        if isinstance(exc, cls):
            return status, slug, title
    return 500, "internal", "内部错误"


class FieldError(BaseModel):
    """One field's problem: where (a JSON pointer-like path or form field) and what."""

    field: str = Field(description="the field, e.g. body.applicant.number")
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details (``application/problem+json``)."""

    type: str = Field(description="a URI naming the kind of problem")
    title: str
    status: int
    detail: str = ""
    instance: str = ""
    errors: list[FieldError] = Field(default_factory=list)
    rule: str | None = Field(default=None, description="the policy rule of a refusal")


def problem_response(
    status: int,
    slug: str,
    title: str,
    detail: str = "",
    *,
    instance: str = "",
    errors: Sequence[tuple[str, str]] = (),
    rule: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = Problem(
        type=PROBLEM_TYPE + slug,
        title=title,
        status=status,
        detail=detail,
        instance=instance,
        errors=[FieldError(field=f, message=m) for f, m in errors],
        rule=rule,
    ).model_dump()
    return JSONResponse(
        body, status_code=status, media_type="application/problem+json", headers=headers
    )
