"""Async client for the household register (户籍) SOAP service of 哈尔滨市公安局.

The legacy system speaks SOAP 1.1 over HTTP (document/literal): every call is a POST of an
envelope to ``/ws`` with ``Content-Type: text/xml; charset=utf-8`` and a ``SOAPAction`` header,
authenticated by a WS-Security ``UsernameToken``. Errors come back as SOAP faults:

- ``soap:Server`` (the bureau's system failed) → :class:`~govsvc.errors.AdapterUnavailable`;
- ``soap:Client`` whose business code says "not found" → an empty result (``None``);
- any other ``soap:Client`` fault → :class:`~govsvc.errors.AdapterProtocolError`.

Answers are parsed with ``defusedxml``, which refuses DTDs and entity declarations, so an
answer carrying a "billion laughs" payload is a protocol error and is never expanded. A missing
or malformed element is reported with its path, such as
``/Envelope/Body/QueryPersonResponse/person/name``.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
import ssl
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar

import attrs
import defusedxml
import defusedxml.ElementTree as DET
import httpx

from govsvc import AdapterProtocolError, InvalidInput
from govsvc.adapterkit import LegacyClient, LegacySystem, excerpt

DEPARTMENT: Final = "11230100003108738D"
"""Unified social credit code of 哈尔滨市公安局, named in every error this client raises."""

SYSTEM: Final = LegacySystem(department=DEPARTMENT, name="哈尔滨市公安局")
"""The household register service as named in every error the client raises."""

SOAP_ENV: Final = "http://schemas.xmlsoap.org/soap/envelope/"
SERVICE_NS: Final = "http://hukou.gaj.harbin.gov.cn/ws"
WSSE_NS: Final = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
)
PASSWORD_TEXT: Final = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
    "#PasswordText"
)
ENDPOINT: Final = "/ws"

# Business codes in the detail of a soap:Client fault that mean "nothing registered".
NOT_FOUND_CODES: Final = frozenset({"PERSON_NOT_FOUND", "HOUSEHOLD_NOT_FOUND"})

# Readable prefixes on the wire; some legacy stacks log envelopes and people read those logs.
ET.register_namespace("soap", SOAP_ENV)
ET.register_namespace("hk", SERVICE_NS)
ET.register_namespace("wsse", WSSE_NS)

_E = TypeVar("_E", bound=enum.Enum)

_ID_NUMBER = re.compile(r"^\d{17}[\dX]$")
_HOUSEHOLD_NUMBER = re.compile(r"^\d{12}$")
# Characters XML 1.0 cannot carry at all, even escaped.
_NOT_XML_CHAR = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class Sex(enum.Enum):
    """Sex as coded by GB/T 2261.1 (the code is what the register stores)."""

    MALE = "1"
    FEMALE = "2"

    @property
    def label(self) -> str:
        """The Chinese label printed on documents (男 / 女)."""
        return "男" if self is Sex.MALE else "女"


class ReviewStatus(enum.Enum):
    """Where a review task stands in the bureau's system."""

    PENDING = "PENDING"
    APPROVED = "APPROVED"
    DENIED = "DENIED"


def _is_id_number(_: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not _ID_NUMBER.match(value):
        raise ValueError(f"{attribute.name} must be 17 digits and a digit or X, got {value!r}")


def _is_household_number(_: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not _HOUSEHOLD_NUMBER.match(value):
        raise ValueError(f"{attribute.name} must be 12 digits, got {value!r}")


def _has_zone(_: object, attribute: attrs.Attribute[dt.datetime], value: dt.datetime) -> None:
    if value.tzinfo is None:
        raise ValueError(f"{attribute.name} must carry a time zone offset")


_Validator = Callable[[Any, "attrs.Attribute[str]", str], None]
_non_empty: _Validator = attrs.validators.min_len(1)


@attrs.frozen
class Person:
    """A resident as registered in the household register (户籍登记).

    The bureau is authoritative for every field here, including ``address`` (户籍地址).
    """

    id_number: str = attrs.field(validator=_is_id_number)
    name: str = attrs.field(validator=_non_empty)
    sex: Sex
    birth_date: dt.date
    ethnicity: str = attrs.field(validator=_non_empty)
    address: str = attrs.field(validator=_non_empty)
    household_number: str = attrs.field(validator=_is_household_number)
    relation_to_head: str = attrs.field(validator=_non_empty)


@attrs.frozen
class HouseholdMember:
    """One member of a household and how they relate to its head (与户主关系)."""

    id_number: str = attrs.field(validator=_is_id_number)
    name: str = attrs.field(validator=_non_empty)
    relation_to_head: str = attrs.field(validator=_non_empty)


@attrs.frozen
class Household:
    """A household (户): its number (户号), address, kind (家庭户 / 集体户) and members."""

    household_number: str = attrs.field(validator=_is_household_number)
    address: str = attrs.field(validator=_non_empty)
    kind: str = attrs.field(validator=_non_empty)
    members: tuple[HouseholdMember, ...]


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
class HouseholdEntry:
    """The result of a registration: the entry written to the register (户口登记).

    ``kind`` is the registration made (出生登记 for a newborn, 户口迁移 for a move);
    ``entry_number`` is the bureau's number for the entry.
    """

    entry_number: str = attrs.field(validator=_non_empty)
    kind: str = attrs.field(validator=_non_empty)
    id_number: str = attrs.field(validator=_is_id_number)
    name: str = attrs.field(validator=_non_empty)
    sex: Sex
    birth_date: dt.date
    ethnicity: str = attrs.field(validator=_non_empty)
    address: str = attrs.field(validator=_non_empty)
    household_number: str = attrs.field(validator=_is_household_number)
    relation_to_head: str = attrs.field(validator=_non_empty)
    registered_on: dt.date


@attrs.frozen
class _Node:
    """An element of an answer and its path, so every parse error can say where it was."""

    element: ET.Element
    path: str
    operation: str

    def error(self, message: str, path: str | None = None) -> AdapterProtocolError:
        return SYSTEM.protocol_error(
            self.operation,
            f"answered {self.operation} with a malformed envelope: {message}",
            path=path or self.path,
        )

    def children(self, name: str) -> list[_Node]:
        # Matched by local name: legacy stacks disagree on elementFormDefault, so the same
        # service may answer with qualified or unqualified children.
        found = [e for e in self.element if _local(e.tag) == name]
        if len(found) == 1:
            return [_Node(found[0], f"{self.path}/{name}", self.operation)]
        return [
            _Node(e, f"{self.path}/{name}[{i}]", self.operation) for i, e in enumerate(found, 1)
        ]

    def maybe(self, name: str) -> _Node | None:
        found = self.children(name)
        if len(found) > 1:
            raise self.error(f"expected one <{name}>, found {len(found)}", f"{self.path}/{name}")
        return found[0] if found else None

    def child(self, name: str) -> _Node:
        node = self.maybe(name)
        if node is None:
            raise self.error(f"missing element <{name}>", f"{self.path}/{name}")
        return node

    def text(self, name: str, *, pattern: re.Pattern[str] | None = None) -> str:
        node = self.child(name)
        value = (node.element.text or "").strip()
        if not value:
            raise node.error(f"element <{name}> is empty")
        if pattern is not None and not pattern.match(value):
            raise node.error(f"<{name}> has an unexpected form: {value!r}")
        return value

    def optional_text(self, name: str) -> str:
        node = self.maybe(name)
        return "" if node is None else (node.element.text or "").strip()

    def as_date(self, name: str) -> dt.date:
        value = self.text(name)
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise self.child(name).error(
                f"<{name}> is not a date (YYYY-MM-DD): {value!r}"
            ) from None

    def as_datetime(self, name: str) -> dt.datetime:
        value = self.text(name)
        try:
            result = dt.datetime.fromisoformat(value)
        except ValueError:
            result = None
        if result is None or result.tzinfo is None:
            raise self.child(name).error(
                f"<{name}> is not a date-time with an offset: {value!r}"
            ) from None
        return result

    def as_enum(self, name: str, cls: type[_E]) -> _E:
        value = self.text(name)
        try:
            return cls(value)
        except ValueError:
            allowed = ", ".join(str(m.value) for m in cls)
            raise self.child(name).error(
                f"<{name}> is {value!r}, expected one of {allowed}"
            ) from None


def _local(tag: str | object) -> str:
    text = tag if isinstance(tag, str) else ""
    return text.rsplit("}", 1)[-1]


def _xml_text(value: object, field: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | dt.date):
        raise InvalidInput(
            f"form field {field!r} must be text, a whole number or a date, "
            f"got {type(value).__name__}"
        )
    text = value.isoformat() if isinstance(value, dt.date) else str(value)
    bad = _NOT_XML_CHAR.search(text)
    if bad:
        raise InvalidInput(
            f"{field} contains the control character U+{ord(bad.group()):04X}, which XML "
            "cannot carry; remove it and submit again"
        )
    return text


class PsbClient(LegacyClient):
    """Client for the household register (户籍) SOAP service of 哈尔滨市公安局.

    One HTTP connection pool per client; close it with :meth:`aclose` or use
    ``async with PsbClient(...) as client``. ``verify`` is the TLS context for an ``https``
    address (e.g. one trusting the government network's own CA); the default trusts the public
    CAs. ``transport`` is the test seam: leave it ``None`` in production (and under
    pytest-httpx).
    """

    def __init__(
        self,
        base_url: str,
        *,
        username: str,
        password: str,
        timeout: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
        verify: ssl.SSLContext | None = None,
    ) -> None:
        self._username = username
        self._password = password
        super().__init__(base_url, timeout=timeout, transport=transport, verify=verify)

    # -- operations -----------------------------------------------------------------------

    async def profile(self, id_number: str) -> Person | None:
        """The registered resident with this citizen ID, or ``None`` if none is registered."""
        response = await self._call("profile", "QueryPerson", {"idNumber": id_number})
        if response is None:
            return None
        return _person(response.child("person"))

    async def household(self, household_number: str) -> Household | None:
        """A household and its members, or ``None`` if no household has that number (户号)."""
        response = await self._call(
            "household", "QueryHousehold", {"householdNumber": household_number}
        )
        if response is None:
            return None
        node = response.child("household")
        members = node.child("members").children("member")
        return Household(
            household_number=node.text("householdNumber", pattern=_HOUSEHOLD_NUMBER),
            address=node.text("address"),
            kind=node.text("kind"),
            members=tuple(
                HouseholdMember(
                    id_number=m.text("idNumber", pattern=_ID_NUMBER),
                    name=m.text("name"),
                    relation_to_head=m.text("relationToHead"),
                )
                for m in members
            ),
        )

    async def open_review(
        self,
        task_id: str,
        case_id: str,
        item_code: str,
        applicant_id: str,
        form: Mapping[str, object],
    ) -> ReviewTicket:
        """Open a review task (e.g. 出生登记, 户口迁移) for a govsvc task.

        ``task_id`` is the idempotency key: opening the same task again returns the ticket of
        the task already open, and creates nothing. Reusing a task id with different content is
        refused (:class:`~govsvc.errors.AdapterProtocolError`).
        """
        fields: dict[str, object] = {
            "taskId": task_id,
            "caseId": case_id,
            "itemCode": item_code,
            "applicantId": applicant_id,
        }
        response = await self._call("open_review", "CreateReviewTask", fields, form=form)
        node = self._found(response, "open_review").child("reviewTask")
        return ReviewTicket(
            legacy_task_id=node.text("legacyTaskId"),
            task_id=node.text("taskId"),
            created_at=node.as_datetime("createdAt"),
        )

    async def poll_review(self, legacy_task_id: str) -> ReviewDecision | None:
        """The decision on a review task, or ``None`` while it is still pending."""
        response = await self._call(
            "poll_review", "QueryReviewTask", {"legacyTaskId": legacy_task_id}
        )
        node = self._found(response, "poll_review").child("reviewTask")
        status = node.as_enum("status", ReviewStatus)
        if status is ReviewStatus.PENDING:
            return None
        return ReviewDecision(
            legacy_task_id=node.text("legacyTaskId"),
            approved=status is ReviewStatus.APPROVED,
            reason=node.optional_text("reason"),
            decided_at=node.as_datetime("decidedAt"),
        )

    async def issue_result(self, legacy_task_id: str) -> HouseholdEntry:
        """Write the approved registration to the register and return the entry (户口登记).

        Issuing again returns the same entry.
        """
        response = await self._call("issue_result", "IssueResult", {"legacyTaskId": legacy_task_id})
        node = self._found(response, "issue_result").child("householdEntry")
        return HouseholdEntry(
            entry_number=node.text("entryNumber"),
            kind=node.text("kind"),
            id_number=node.text("idNumber", pattern=_ID_NUMBER),
            name=node.text("name"),
            sex=node.as_enum("sex", Sex),
            birth_date=node.as_date("birthDate"),
            ethnicity=node.text("ethnicity"),
            address=node.text("address"),
            household_number=node.text("householdNumber", pattern=_HOUSEHOLD_NUMBER),
            relation_to_head=node.text("relationToHead"),
            registered_on=node.as_date("registeredOn"),
        )

    async def health(self) -> bool:
        """Whether the service answers: it publishes its WSDL at ``GET /ws?wsdl``."""
        try:
            # Literally "?wsdl": some SOAP stacks do not recognise "?wsdl=".
            response = await self._http.get(f"{ENDPOINT}?wsdl")
        except httpx.HTTPError:
            return False
        return response.status_code == 200 and b"definitions" in response.content

    # -- the SOAP exchange --------------------------------------------------------------

    @staticmethod
    def _found(node: _Node | None, operation: str) -> _Node:
        if node is None:  # only lookups declare not-found codes; here it is a broken answer
            raise SYSTEM.protocol_error(
                operation,
                "answered with a not-found fault where none was possible",
                path="/Envelope/Body/Fault",
            )
        return node

    def _envelope(
        self, action: str, fields: Mapping[str, object], form: Mapping[str, object] | None
    ) -> bytes:
        envelope = ET.Element(f"{{{SOAP_ENV}}}Envelope")
        header = ET.SubElement(envelope, f"{{{SOAP_ENV}}}Header")
        security = ET.SubElement(header, f"{{{WSSE_NS}}}Security")
        token = ET.SubElement(security, f"{{{WSSE_NS}}}UsernameToken")
        ET.SubElement(token, f"{{{WSSE_NS}}}Username").text = self._username
        password = ET.SubElement(token, f"{{{WSSE_NS}}}Password", {"Type": PASSWORD_TEXT})
        password.text = self._password
        body = ET.SubElement(envelope, f"{{{SOAP_ENV}}}Body")
        request = ET.SubElement(body, f"{{{SERVICE_NS}}}{action}")
        for name, value in fields.items():
            ET.SubElement(request, f"{{{SERVICE_NS}}}{name}").text = _xml_text(value, name)
        if form is not None:
            form_element = ET.SubElement(request, f"{{{SERVICE_NS}}}form")
            for name, value in form.items():
                field = ET.SubElement(form_element, f"{{{SERVICE_NS}}}field", {"name": name})
                field.text = _xml_text(value, f"form field {name!r}")
        data: bytes = ET.tostring(envelope, encoding="utf-8", xml_declaration=True)
        return data

    async def _call(
        self,
        operation: str,
        action: str,
        fields: Mapping[str, object],
        *,
        form: Mapping[str, object] | None = None,
    ) -> _Node | None:
        """Send one SOAP request; the response element, or ``None`` for a not-found fault."""
        content = self._envelope(action, fields, form)
        headers = {
            "Content-Type": "text/xml; charset=utf-8",
            "SOAPAction": f'"{SERVICE_NS}/{action}"',
        }
        response = await SYSTEM.send(
            self._http, operation, "POST", ENDPOINT, content=content, headers=headers
        )
        status = response.status_code
        # SOAP 1.1 sends faults with HTTP 500; anything else in the 5xx range, or a parse
        # failure on a 500, is a failing server or gateway rather than a fault.
        if status == 200 or status == 500:
            try:
                body = self._body(response, operation)
            except AdapterProtocolError:
                if status == 500 and not _is_hostile(response.content):
                    raise SYSTEM.unavailable(
                        operation, f"failed with HTTP 500: {excerpt(response.content)}"
                    ) from None
                raise
            fault = body.maybe("Fault")
            if fault is not None:
                self._fault(fault, operation)  # raises unless the fault means "not found"
                return None
            if status == 500:
                raise SYSTEM.unavailable(operation, "failed with HTTP 500 without a SOAP fault")
            expected = f"{action}Response"
            answer = body.maybe(expected)
            if answer is None:
                found = [_local(e.tag) for e in body.element]
                raise body.error(f"expected <{expected}>, found {found or 'nothing'}")
            return answer
        SYSTEM.check_available(response, operation)
        raise SYSTEM.refused(
            response,
            operation,
            hint=f"; check the service address (POST {ENDPOINT}) and the SOAP version",
            path="/",
        )

    def _body(self, response: httpx.Response, operation: str) -> _Node:
        root = _Node(ET.Element("none"), "/Envelope", operation)
        try:
            element = DET.fromstring(response.content, forbid_dtd=True)
        except defusedxml.DefusedXmlException as exc:
            raise root.error(
                f"the answer carries a DTD or entity declaration, refused unread ({exc!r}); "
                "report this to the bureau's operators",
                "/",
            ) from exc
        except ET.ParseError as exc:
            raise root.error(f"the answer is not well-formed XML ({exc})", "/") from exc
        if element.tag != f"{{{SOAP_ENV}}}Envelope":
            raise root.error(f"the root element is {element.tag!r}, not a SOAP 1.1 Envelope", "/")
        envelope = _Node(element, "/Envelope", operation)
        body = envelope.maybe("Body")
        if body is None or body.element.tag != f"{{{SOAP_ENV}}}Body":
            raise envelope.error("missing SOAP Body", "/Envelope/Body")
        return body

    def _fault(self, fault: _Node, operation: str) -> None:
        code = fault.text("faultcode")
        message = fault.optional_text("faultstring") or "(no faultstring)"
        kind = code.rsplit(":", 1)[-1].split(".", 1)[0]
        detail = fault.maybe("detail")
        error = detail.maybe("error") if detail is not None else None
        business = error.optional_text("code") if error is not None else ""
        label = f"{message} [{business}]" if business else message
        if kind == "Server":
            raise SYSTEM.unavailable(operation, f"reported an internal fault: {label}")
        if kind == "Client" and business in NOT_FOUND_CODES:
            return None
        if kind == "Client":
            raise SYSTEM.protocol_error(
                operation, f"rejected the {operation} request: {label}", path=fault.path
            )
        raise SYSTEM.protocol_error(
            operation,
            f"answered with a {code} fault: {label}; the client and the service "
            "disagree on the protocol (SOAP 1.1 is expected)",
            path=fault.path,
        )


def _is_hostile(content: bytes) -> bool:
    try:
        DET.fromstring(content, forbid_dtd=True)
    except defusedxml.DefusedXmlException:
        return True
    except ET.ParseError:
        return False
    return False


def _person(node: _Node) -> Person:
    return Person(
        id_number=node.text("idNumber", pattern=_ID_NUMBER),
        name=node.text("name"),
        sex=node.as_enum("sex", Sex),
        birth_date=node.as_date("birthDate"),
        ethnicity=node.text("ethnicity"),
        address=node.text("address"),
        household_number=node.text("householdNumber", pattern=_HOUSEHOLD_NUMBER),
        relation_to_head=node.text("relationToHead"),
    )
