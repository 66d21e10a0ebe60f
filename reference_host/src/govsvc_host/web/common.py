"""What the page routers share: who is asking, CSRF-checked forms, drafts, redirects."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import Depends, Request
from starlette.datastructures import FormData, UploadFile
from starlette.responses import RedirectResponse

import govsvc
from govsvc import Principal
from govsvc_host.context import Host, LoginExpired, NotLoggedIn
from govsvc_host.security import CSRF_FIELD, valid_csrf

__all__ = [
    "Anyone",
    "CheckedForm",
    "CsrfFailed",
    "Form",
    "Me",
    "anyone",
    "checked_form",
    "host_of",
    "logged_in",
    "redirect",
    "take_draft",
]

DRAFTS_KEY = "govsvc_host.drafts"


class CsrfFailed(Exception):
    """An unsafe request without this browser session's CSRF token."""


def host_of(request: Request) -> Host:
    host: Host = request.app.state.host
    return host


def _form_page(request: Request) -> str:
    """The page the form was on: the Referer when it is ours, else the path posted to."""
    referer = request.headers.get("referer", "")
    if referer:
        parts = urlsplit(referer)
        if parts.netloc == request.url.netloc and parts.path.startswith("/"):
            return parts.path
    return request.url.path


async def logged_in(request: Request) -> Principal:
    """The principal of a page that needs a login (else a redirect to /login).

    An unsafe request arriving after the login expired keeps what was typed: its text
    fields become a draft the form page shows again after the login.
    """
    host = host_of(request)
    try:
        return host.require(request)
    except NotLoggedIn as exc:
        if isinstance(exc, LoginExpired) and request.method == "POST":
            page = _form_page(request)
            async with request.form() as form:
                fields = _text_fields(form)
            draft = host.store.save_draft(page, fields)
            drafts: dict[str, str] = dict(request.session.get(DRAFTS_KEY, {}))
            drafts[page] = draft
            request.session[DRAFTS_KEY] = dict(list(drafts.items())[-5:])
            raise NotLoggedIn(page) from None
        raise NotLoggedIn(request.url.path) from None


async def anyone(request: Request) -> Principal | None:
    """The principal if logged in, else None (public pages)."""
    try:
        return host_of(request).principal(request)
    except LoginExpired:
        return None


def _text_fields(form: FormData) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for key, value in form.multi_items():
        if key == CSRF_FIELD or not isinstance(value, str):
            continue
        fields.setdefault(key, []).append(value[:5000])
    return fields


def take_draft(request: Request, page: str) -> dict[str, str]:
    """The fields kept for ``page`` across an expired login (once), else {}."""
    drafts: dict[str, str] = dict(request.session.get(DRAFTS_KEY, {}))
    draft_id = drafts.pop(page, None)
    if draft_id is None:
        return {}
    request.session[DRAFTS_KEY] = drafts
    found = host_of(request).store.take_draft(draft_id, page)
    return {k: v[0] for k, v in (found or {}).items() if v}


class Form:
    """A checked form: text fields with what the user typed, and uploaded files."""

    def __init__(self, data: FormData) -> None:
        self.data = data

    def text(self, name: str, default: str = "") -> str:
        value = self.data.get(name)
        return value.strip() if isinstance(value, str) else default

    def texts(self) -> dict[str, str]:
        return {
            k: v for k, v in self.data.items() if isinstance(v, str) and k != CSRF_FIELD
        }

    def file(self, name: str) -> UploadFile | None:
        value = self.data.get(name)
        if isinstance(value, UploadFile) and value.filename:
            return value
        return None

    def checked(self, name: str) -> bool:
        return self.data.get(name) in ("on", "1", "true", "yes")


Me = Annotated[Principal, Depends(logged_in)]
Anyone = Annotated[Principal | None, Depends(anyone)]


async def checked_form(request: Request, _me: Me) -> Form:
    """The posted form, once its CSRF token matched (and after the login check)."""
    # Multipart limits: the upload limit plus room for the text fields.
    limit = host_of(request).settings.uploads.max_bytes
    data = await request.form(max_files=50, max_fields=500, max_part_size=limit + 1)
    token = data.get(CSRF_FIELD)
    if not isinstance(token, str) or not valid_csrf(request, token):
        raise CsrfFailed()
    for key, value in data.multi_items():
        if isinstance(value, str) and ("\x00" in value or any(
            "\ud800" <= ch <= "\udfff" for ch in value
        )):
            raise govsvc.InvalidInput(
                f"表单字段 {key} 含有无法保存的字符（NUL 或孤立代理项），请删除后重试"
            )
    return Form(data)


CheckedForm = Annotated[Form, Depends(checked_form)]


def redirect(path: str, **params: Any) -> RedirectResponse:
    if params:
        query = "&".join(f"{k}={quote(str(v))}" for k, v in params.items() if v is not None)
        path = f"{path}?{query}"
    return RedirectResponse(path, status_code=303)


def flash(request: Request, message: str) -> None:
    """A one-line message for the next page (kept in the session)."""
    request.session["govsvc_host.flash"] = message[:500]


def pop_flash(request: Request) -> str:
    value = request.session.pop("govsvc_host.flash", "")
    return str(value)


def values_of(draft: Mapping[str, str], **defaults: str) -> dict[str, str]:
    return {**defaults, **draft}
