"""Async client for the REST API of 哈尔滨市人力资源和社会保障局 (social security, 人社).

The API speaks JSON and is protected by OAuth 2.0 client credentials: the client fetches a
bearer token from ``POST /oauth/token``, keeps it until shortly before ``expires_in`` runs out,
and fetches a new one when it expires or when the API answers 401 ``invalid_token`` (once; a
fresh token refused again is an error). Lists are paginated
(``{"items": [...], "page", "size", "total"}``); the client follows the pages and returns the
whole list.

Failures map to govsvc errors: timeouts, refused connections, 5xx and 429 are
:class:`~govsvc.errors.AdapterUnavailable`; malformed bodies and other 4xx answers are
:class:`~govsvc.errors.AdapterProtocolError` with the JSON path of the bad field
(``$.items[0].cardNumber``); a 404 for an unknown holder or employer is an empty result.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import enum
import re
import ssl
import time
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any, Final

import attrs
import httpx

from govsvc import InvalidInput
from govsvc.adapterkit import JsonNode, LegacyClient, LegacySystem, excerpt

DEPARTMENT: Final = "11230100003109212K"
"""Unified social credit code of 哈尔滨市人力资源和社会保障局, named in every error."""

SYSTEM: Final = LegacySystem(department=DEPARTMENT, name="哈尔滨市人社局")
"""The bureau's API as named in every error the client raises."""

_TOKEN_ENDPOINT: Final = attrs.evolve(SYSTEM, name="哈尔滨市人社局 token endpoint")
_ID_NUMBER = re.compile(r"^\d{17}[\dX]$")
_ID_NUMBER_WHAT = "a citizen ID (17 digits and a digit or X)"
_CREDIT_CODE = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$")
_CARD_NUMBER = re.compile(r"^[A-Z0-9]{9}$")
_INSURANCE_TYPE = re.compile(r"^\d{3}$")
_MAX_PAGES = 10_000  # a server that never stops paging must not hang the caller


class Sex(enum.Enum):
    """Sex as coded by GB/T 2261.1; this system writes the label (男 / 女) on the wire."""

    MALE = "1"
    FEMALE = "2"

    @property
    def label(self) -> str:
        """The Chinese label (男 / 女)."""
        return "男" if self is Sex.MALE else "女"


class CardStatus(enum.Enum):
    """Status of a social security card: 正常 (in use), 挂失 (reported lost), 注销 (cancelled)."""

    NORMAL = "正常"
    REPORTED_LOST = "挂失"
    CANCELLED = "注销"


class InsuranceStatus(enum.Enum):
    """参保状态 of one insurance: paying, paused, or ended."""

    PAYING = "参保缴费"
    PAUSED = "暂停缴费"
    ENDED = "终止参保"


def _matches(pattern: re.Pattern[str], what: str) -> Callable[[Any, Any, str], None]:
    def check(_: Any, attribute: Any, value: str) -> None:
        if not pattern.match(value):
            raise ValueError(f"{attribute.name} must be {what}, got {value!r}")

    return check


def _has_zone(_: Any, attribute: Any, value: dt.datetime) -> None:
    if value.tzinfo is None:
        raise ValueError(f"{attribute.name} must carry a time zone offset")


_non_empty: Callable[[Any, Any, str], None] = attrs.validators.min_len(1)
_is_id_number = _matches(_ID_NUMBER, "a citizen ID (17 digits and a digit or X)")


@attrs.frozen
class Employer:
    """The employer (参保单位) that pays a person's insurance."""

    credit_code: str = attrs.field(validator=_matches(_CREDIT_CODE, "a credit code"))
    name: str = attrs.field(validator=_non_empty)


@attrs.frozen
class Insurance:
    """One insurance (险种) of a person, e.g. ``110`` 企业职工基本养老保险, and its status."""

    type_code: str = attrs.field(validator=_matches(_INSURANCE_TYPE, "a 3-digit type code"))
    type_name: str = attrs.field(validator=_non_empty)
    status: InsuranceStatus
    since: dt.date


@attrs.frozen
class InsuredPerson:
    """What 人社 holds about a person (参保人): person data, employer and insurances.

    The address here is *not* authoritative (the public security bureau's is) and may be old.
    """

    id_number: str = attrs.field(validator=_is_id_number)
    name: str = attrs.field(validator=_non_empty)
    sex: Sex
    birth_date: dt.date
    address: str = attrs.field(validator=_non_empty)
    employer: Employer | None
    insurances: tuple[Insurance, ...]

    @property
    def insured(self) -> bool:
        """Whether any insurance is being paid (参保缴费)."""
        return any(i.status is InsuranceStatus.PAYING for i in self.insurances)


@attrs.frozen
class SocialSecurityCard:
    """A social security card (社会保障卡); its 社会保障号码 is the holder's citizen ID."""

    card_number: str = attrs.field(validator=_matches(_CARD_NUMBER, "9 letters or digits"))
    social_security_number: str = attrs.field(validator=_is_id_number)
    holder_name: str = attrs.field(validator=_non_empty)
    bank: str = attrs.field(validator=_non_empty)
    issued_on: dt.date
    status: CardStatus


@attrs.frozen
class InsuredEmployee:
    """A person an employer insures, with the insurance type codes and the start date."""

    id_number: str = attrs.field(validator=_is_id_number)
    name: str = attrs.field(validator=_non_empty)
    insurance_types: tuple[str, ...]
    since: dt.date


@attrs.frozen
class ReviewTicket:
    """The bureau's receipt for a review task: its own id for the govsvc task id."""

    legacy_task_id: str = attrs.field(validator=_non_empty)
    task_id: str = attrs.field(validator=_non_empty)
    created_at: dt.datetime = attrs.field(validator=_has_zone)


@attrs.frozen
class ReviewDecision:
    """The bureau's decision on a review task; ``reason`` explains a denial."""

    legacy_task_id: str = attrs.field(validator=_non_empty)
    approved: bool
    reason: str
    decided_at: dt.datetime = attrs.field(validator=_has_zone)


@attrs.frozen
class _Token:
    value: str
    expires_at: float  # on the client's monotonic clock


def _segment(value: str) -> str:
    """``value`` as one URL path segment: a stray ``/`` or ``?`` must not change the endpoint."""
    return urllib.parse.quote(value, safe="")


def _invalid_token(response: httpx.Response) -> bool:
    """Whether a 401 says the bearer token is invalid or expired (RFC 6750 §3.1)."""
    if 'error="invalid_token"' in response.headers.get("www-authenticate", ""):
        return True
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("error") == "invalid_token"


class HrssClient(LegacyClient):
    """Client for the REST API of 哈尔滨市人力资源和社会保障局.

    ``client_id`` / ``client_secret`` are the OAuth 2.0 client credentials the bureau issued.
    ``page_size`` is how many list items to ask for per page. ``clock`` is a monotonic clock
    (seconds) for token expiry; tests replace it. ``verify`` is the TLS context for an ``https``
    address (default: the public CAs); ``transport`` is the test seam: leave it ``None`` in
    production (and under pytest-httpx). Use ``async with`` or call :meth:`aclose`.
    """

    def __init__(
        self,
        base_url: str,
        *,
        client_id: str,
        client_secret: str,
        timeout: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
        verify: ssl.SSLContext | None = None,
        page_size: int = 50,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if page_size < 1:
            raise InvalidInput(f"page_size must be at least 1, got {page_size}")
        self._client_id = client_id
        self._client_secret = client_secret
        self._page_size = page_size
        self._clock = clock
        self._token: _Token | None = None
        self._token_lock = asyncio.Lock()
        super().__init__(base_url, timeout=timeout, transport=transport, verify=verify)

    # -- operations -----------------------------------------------------------------------

    async def profile(self, id_number: str) -> InsuredPerson | None:
        """What 人社 holds about a person, or ``None`` if the person is unknown here."""
        path = f"/api/persons/{_segment(id_number)}"
        body = await self._api("profile", "GET", path, not_found_ok=True)
        if body is None:
            return None
        employer = body.optional("employer")
        return InsuredPerson(
            id_number=body["idNumber"].text(_ID_NUMBER, what=_ID_NUMBER_WHAT),
            name=body["name"].text(),
            sex=_sex(body["sex"]),
            birth_date=body["birthDate"].date(),
            address=body["address"].text(),
            employer=None if employer is None else _employer(employer),
            insurances=tuple(_insurance(i) for i in body["insurances"].elements()),
        )

    async def certificates(self, holder_id: str) -> list[SocialSecurityCard]:
        """Every social security card issued to the holder, whatever its status."""
        items = await self._all_pages("certificates", "/api/cards", {"holder": holder_id})
        return [_card(item) for item in items]

    async def insured_employees(self, credit_code: str) -> list[InsuredEmployee]:
        """Everyone the employer (by credit code) insures; empty for an unknown employer."""
        items = await self._all_pages(
            "insured_employees", f"/api/employers/{_segment(credit_code)}/insured", {}
        )
        return [
            InsuredEmployee(
                id_number=item["idNumber"].text(_ID_NUMBER, what=_ID_NUMBER_WHAT),
                name=item["name"].text(),
                insurance_types=tuple(
                    code.text(_INSURANCE_TYPE, what="a 3-digit insurance type code")
                    for code in item["insuranceTypes"].elements()
                ),
                since=item["since"].date(),
            )
            for item in items
        ]

    async def open_review(
        self,
        task_id: str,
        case_id: str,
        item_code: str,
        applicant_id: str,
        form: Mapping[str, object],
    ) -> ReviewTicket:
        """Open a review task (e.g. 社会保障卡申领) for a govsvc task.

        ``task_id`` is sent as the ``Idempotency-Key``: opening the same task again returns
        the ticket of the task already open and creates nothing. Reusing a task id with
        different content is refused (:class:`~govsvc.errors.AdapterProtocolError`).
        """
        request = {
            "taskId": task_id,
            "caseId": case_id,
            "itemCode": item_code,
            "applicantId": applicant_id,
            "form": _form(form),
        }
        body = await self._call(
            "open_review",
            "POST",
            "/api/review-tasks",
            payload=request,
            headers={"Idempotency-Key": task_id},
        )
        return ReviewTicket(
            legacy_task_id=body["legacyTaskId"].text(),
            task_id=body["taskId"].text(),
            created_at=body["createdAt"].datetime(assume=None),
        )

    async def poll_review(self, legacy_task_id: str) -> ReviewDecision | None:
        """The decision on a review task, or ``None`` while it is still pending."""
        path = f"/api/review-tasks/{_segment(legacy_task_id)}"
        body = await self._call("poll_review", "GET", path)
        status = body["status"].text()
        if status == "PENDING":
            return None
        if status not in ("APPROVED", "DENIED"):
            body["status"].fail(f"status {status!r} is not PENDING, APPROVED or DENIED")
        return ReviewDecision(
            legacy_task_id=body["legacyTaskId"].text(),
            approved=status == "APPROVED",
            reason=body.optional_text("reason"),
            decided_at=body["decidedAt"].datetime(assume=None),
        )

    async def issue_result(self, legacy_task_id: str) -> SocialSecurityCard:
        """Issue the card an approved application asked for; issuing again returns it again."""
        body = await self._call(
            "issue_result", "POST", f"/api/review-tasks/{_segment(legacy_task_id)}/issue"
        )
        return _card(body)

    async def health(self) -> bool:
        """Whether the API answers ``GET /health`` with ``{"status": "UP"}``."""
        try:
            response = await self._http.get("/health")
            return response.status_code == 200 and response.json().get("status") == "UP"
        except (httpx.HTTPError, ValueError, AttributeError):
            return False

    # -- the exchange ---------------------------------------------------------------------

    async def _all_pages(
        self, operation: str, path: str, params: Mapping[str, str]
    ) -> list[JsonNode]:
        collected: list[JsonNode] = []
        for page in range(1, _MAX_PAGES + 1):
            query = {**params, "page": str(page), "size": str(self._page_size)}
            body = await self._api(operation, "GET", path, params=query, not_found_ok=True)
            if body is None:  # unknown holder or employer
                return []
            if (got := body["page"].integer()) != page:
                body["page"].fail(f"asked for page {page}, got {got}")
            total = body["total"].integer()
            items = body["items"].elements()
            collected.extend(items)
            if len(collected) >= total:
                return collected
            if not items:
                body["items"].fail(
                    f"page {page} is empty but total says {total} and only "
                    f"{len(collected)} arrived; the list changed while paging, try again"
                )
        raise SYSTEM.protocol_error(
            operation, f"kept paging past {_MAX_PAGES} pages", path="$.page"
        )

    async def _call(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        payload: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> JsonNode:
        """One authorised API call whose answer must be a JSON object (a 404 is an error)."""
        body = await self._api(operation, method, path, payload=payload, headers=headers)
        if body is None:  # pragma: no cover - _api only returns None when not_found_ok
            raise SYSTEM.protocol_error(operation, "gave an unexpected empty answer")
        return body

    async def _api(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        payload: Any = None,
        headers: Mapping[str, str] | None = None,
        not_found_ok: bool = False,
    ) -> JsonNode | None:
        """One authorised API call; the parsed body, or ``None`` for an allowed 404."""
        token = await self._bearer(operation)
        response = await self._send(operation, method, path, token, params, payload, headers)
        if response.status_code == 401 and _invalid_token(response):
            # Revoked or expired early on the server's side: one fresh token, then give up.
            token = await self._bearer(operation, stale=token)
            response = await self._send(operation, method, path, token, params, payload, headers)
            if response.status_code == 401:
                raise SYSTEM.protocol_error(
                    operation,
                    f"refused a freshly issued access token: {excerpt(response.content)}; "
                    "check that the client is granted this API",
                )
        if response.status_code == 404 and not_found_ok:
            return None
        SYSTEM.check_status(response, operation)
        return _object(SYSTEM, response, operation)

    async def _send(
        self,
        operation: str,
        method: str,
        path: str,
        token: str,
        params: Mapping[str, str] | None,
        payload: Any,
        headers: Mapping[str, str] | None,
    ) -> httpx.Response:
        all_headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        all_headers.update(headers or {})
        return await SYSTEM.send(
            self._http, operation, method, path, params=params, json=payload, headers=all_headers
        )

    async def _bearer(self, operation: str, *, stale: str | None = None) -> str:
        """A valid access token; ``stale`` is one the API refused, to be replaced."""
        async with self._token_lock:
            token = self._token
            fresh = token is not None and self._clock() < token.expires_at
            if token is not None and fresh and token.value != stale:
                return token.value
            self._token = await self._fetch_token(operation)
            return self._token.value

    async def _fetch_token(self, operation: str) -> _Token:
        form = {
            "grant_type": "client_credentials",
            "client_id": self._client_id,
            "client_secret": self._client_secret,
        }
        response = await _TOKEN_ENDPOINT.send(
            self._http, operation, "POST", "/oauth/token", data=form
        )
        if response.status_code in (400, 401):
            raise SYSTEM.protocol_error(
                operation,
                f"refused the client credentials (HTTP {response.status_code}: "
                f"{excerpt(response.content)}); check client_id and client_secret",
                path="$.error",
            )
        _TOKEN_ENDPOINT.check_status(response, operation)
        body = _object(_TOKEN_ENDPOINT, response, operation)
        token_type = body["token_type"].text()
        if token_type.lower() != "bearer":
            body["token_type"].fail(f"token_type is {token_type!r}, expected Bearer")
        expires_in = body["expires_in"].number()
        if expires_in < 0:
            body["expires_in"].fail(f"expires_in is negative: {expires_in}")
        # Renew a little early so a token does not expire between check and use.
        margin = min(30.0, expires_in / 10)
        return _Token(body["access_token"].text(), self._clock() + expires_in - margin)


def _object(system: LegacySystem, response: httpx.Response, operation: str) -> JsonNode:
    """The body of an answer, which must be a JSON object."""
    body = system.read_json(response.content, operation)
    body.mapping()
    return body


def _form(form: Mapping[str, object]) -> dict[str, str | int]:
    result: dict[str, str | int] = {}
    for name, value in form.items():
        if isinstance(value, dt.date):
            result[name] = value.isoformat()
        elif isinstance(value, str | int) and not isinstance(value, bool):
            result[name] = value
        else:
            raise InvalidInput(
                f"form field {name!r} must be text, a whole number or a date, "
                f"got {type(value).__name__}"
            )
    return result


def _sex(node: JsonNode) -> Sex:
    label = node.text()
    for sex in Sex:
        if sex.label == label:
            return sex
    node.fail(f"sex is {label!r}, expected 男 or 女")


def _employer(node: JsonNode) -> Employer:
    return Employer(
        credit_code=node["creditCode"].text(_CREDIT_CODE, what="a unified social credit code"),
        name=node["name"].text(),
    )


def _insurance(node: JsonNode) -> Insurance:
    return Insurance(
        type_code=node["type"].text(_INSURANCE_TYPE, what="a 3-digit insurance type code"),
        type_name=node["typeName"].text(),
        status=node["status"].enum(InsuranceStatus),
        since=node["since"].date(),
    )


def _card(node: JsonNode) -> SocialSecurityCard:
    return SocialSecurityCard(
        card_number=node["cardNumber"].text(_CARD_NUMBER, what="9 letters or digits"),
        social_security_number=node["socialSecurityNumber"].text(
            _ID_NUMBER, what=_ID_NUMBER_WHAT
        ),
        holder_name=node["holderName"].text(),
        bank=node["bank"].text(),
        issued_on=node["issuedOn"].date(),
        status=node["status"].enum(CardStatus),
    )
