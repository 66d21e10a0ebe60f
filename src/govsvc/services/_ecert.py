"""The platform's e-certificate machinery, shared by every session (like the Runtime).

:class:`EcertRuntime` holds the key ring (private keys from files or an HSM, never from the
database), the URL scheme, the certificate types (证照目录) and the certificate event
listeners. It issues a certificate **inside** the transaction that records an approved
case's result (:meth:`issue_in`); a certificate that cannot be issued there (no key, a
retired key, a face the type refuses) becomes a durable ``certificate.issue`` outbox row,
retried by ``session.certificates.issue_pending()`` and listed by ``pending()``. It also
answers the verifier's questions from the platform's own store: keys, status lists
(re-signed on demand when their bits changed) and current credentials.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs
import sqlalchemy as sa

from govsvc import _converter
from govsvc.adapters import IssuedResult
from govsvc.cases import Case
from govsvc.catalogue import Agency, ItemVersion
from govsvc.ecert import (
    BY_RULE,
    Certificate,
    CertificateEvent,
    CertificateId,
    CertificateStep,
    CertificateType,
    CertificateTypes,
    DepartmentSigner,
    EcertUrls,
    FaceField,
    FetchedStatusList,
    FieldKind,
    KeyRing,
    StatusList,
    StatusPurpose,
    ValidityKind,
    credential_document,
    load_certificate_types,
    sign_credential,
    status_list_credential,
)
from govsvc.ecert._jose import b64url_decode
from govsvc.errors import InvalidInput, PluginError
from govsvc.principals import Actor
from govsvc.store import certificates as store
from govsvc.store.tables import outbox_t

if TYPE_CHECKING:
    from govsvc.plugins import PluginManager

__all__ = ["ISSUE_TOPIC", "CertificateListener", "EcertRuntime"]

log = logging.getLogger("govsvc.platform")

ISSUE_TOPIC = "certificate.issue"
_SERIAL = re.compile(r"[0-9A-Z]{1,64}")
_CN_DATE = re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日")
_LEADING_NUMBER = re.compile(r"\s*(-?\d+(?:\.\d+)?)")

CertificateHandler = Callable[[CertificateEvent, Certificate], None]


@attrs.frozen(kw_only=True)
class CertificateListener:
    """A listener of certificate events (issued, suspended, …, reminded), after commit."""

    name: str
    handle: CertificateHandler


def _kid(jws: str) -> str | None:
    """The ``kid`` of a compact JWS we signed (None if unreadable)."""
    try:
        header = json.loads(b64url_decode(jws.split(".", 1)[0]))
    except ValueError:
        return None
    kid = header.get("kid") if isinstance(header, dict) else None
    return kid if isinstance(kid, str) else None


def _snake(key: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()


def _face_value(spec: FaceField, value: Any) -> Any:
    """A department's printed value in the form the type's field takes (Chinese dates,
    numbers with units such as ``40周`` or ``3200克``)."""
    if not isinstance(value, str):
        return value
    if spec.kind is FieldKind.DATE:
        found = _CN_DATE.fullmatch(value.strip())
        if found:
            year, month, day = (int(g) for g in found.groups())
            return dt.date(year, month, day).isoformat()
    if spec.kind is FieldKind.NUMBER:
        found = _LEADING_NUMBER.match(value)
        if found:
            return found.group(1)
    return value


def generic_face(ctype: CertificateType, data: Mapping[str, Any]) -> dict[str, Any]:
    """The face fields of ``ctype`` found in a department's result data: by the field's key,
    its snake_case form or its printed Chinese label. Other entries are left out."""
    face: dict[str, Any] = {}
    for spec in ctype.fields:
        for name in (spec.key, _snake(spec.key), spec.label):
            if name in data and data[name] not in (None, ""):
                face[spec.key] = _face_value(spec, data[name])
                break
    return face


def serial_of(number: str) -> str:
    """The identifier's serial (颁发序号) for a printed number: the number itself when it is
    1–64 capital letters and digits, else a stable digest of it."""
    text = "".join(number.split()).upper()
    if _SERIAL.fullmatch(text):
        return text
    return hashlib.sha256(number.encode("utf-8")).hexdigest()[:24].upper()


class EcertRuntime:
    """See the module docstring."""

    def __init__(
        self,
        *,
        keys: KeyRing,
        urls: EcertUrls,
        types: CertificateTypes,
        plugins: PluginManager,
        clock: Callable[[], dt.datetime],
        names: Mapping[str, str] | None = None,
        signers: Sequence[DepartmentSigner] = (),
    ) -> None:
        self.keys = keys
        self.names: dict[str, str] = dict(names or {})
        self.urls = urls
        self.types = types
        self._plugins = plugins
        self._clock = clock
        self.listeners: list[CertificateListener] = []
        # Signed status lists by (issuer, number, purpose), with when they were read: a
        # verification reads the database at most every list_cache_seconds per list (other
        # processes' changes are seen within that; this process's own at once).
        self._lists: dict[tuple[str, int, StatusPurpose], tuple[str, float]] = {}
        self.list_cache_seconds = 5.0
        self._by_url: dict[str, tuple[FetchedStatusList, float]] = {}
        self.resolver: Callable[..., FetchedStatusList | None] | None = None
        self._event_hooks = plugins.hook.govsvc_certificate_event.get_hookimpls()
        for entry in signers:
            entry.add_to(keys)

    @classmethod
    def build(
        cls,
        *,
        keys: KeyRing | str | None,
        base_url: str,
        types: CertificateTypes | str | None,
        plugins: PluginManager,
        clock: Callable[[], dt.datetime],
        names: Mapping[str, str] | None = None,
        signers: Sequence[DepartmentSigner] = (),
    ) -> EcertRuntime:
        from govsvc.ecert import load_key_config

        if keys is None:
            ring = KeyRing(clock=clock)
        elif isinstance(keys, KeyRing):
            ring = keys
        else:
            ring = load_key_config(keys, clock=clock)
        catalogue = types if isinstance(types, CertificateTypes) else load_certificate_types(types)
        return cls(
            keys=ring,
            urls=EcertUrls(base_url),
            types=catalogue,
            plugins=plugins,
            clock=clock,
            names=names,
            signers=signers,
        )

    # --- which certificate a case's result is --------------------------------------------

    def type_of(self, version: ItemVersion) -> CertificateType | None:
        """The certificate type an item's result is (its guide's result entry, else the types
        catalogue's list of issuing items), if the catalogue has it."""
        return self.types.of_version(version)

    def certificate_id(self, version: ItemVersion, number: str) -> CertificateId | None:
        ctype = self.type_of(version)
        if ctype is None:
            return None
        return CertificateId.new(ctype.code, version.agency.credit_code, serial_of(number))

    def face(self, ctype: CertificateType, issued: IssuedResult, case: Case) -> Mapping[str, Any]:
        """The face fields: a plugin's ``govsvc_certificate_face`` answer, else the fields
        found in the result's data by key or label."""
        answer = self._plugins.hook.govsvc_certificate_face(
            certificate_type=ctype, result=issued, case=case
        )
        if answer is not None:
            if not isinstance(answer, Mapping):
                raise PluginError(
                    f"govsvc_certificate_face returned {type(answer).__name__}, not a mapping "
                    "of face fields"
                )
            return answer
        return generic_face(ctype, issued.data)

    # --- signing -------------------------------------------------------------------------

    def sign(self, document: Mapping[str, Any], issuer: str, at: dt.datetime) -> tuple[str, str]:
        """``(compact JWS, key id)`` signed with the issuer's current key (a retired or
        revoked key signs nothing: :class:`KeyRetired`, :class:`UnknownKey`)."""
        signer = self.keys.signer_for(issuer)
        return sign_credential(document, signer, at=at), signer.key_id

    def sign_certificate(self, certificate: Certificate, at: dt.datetime) -> tuple[str, str]:
        return self.sign(
            credential_document(certificate, self.urls), certificate.issuer.credit_code, at
        )

    # --- issuing in the result's transaction ----------------------------------------------

    def issue_in(
        self,
        conn: sa.Connection,
        case: Case,
        version: ItemVersion,
        issued: IssuedResult,
        *,
        actor: Actor,
        now: dt.datetime,
    ) -> CertificateStep | None:
        """Issue, sign and store the certificate of an approved case's result, in ``conn``'s
        transaction; on any failure the work is queued (``certificate.issue``) with the
        error instead, in the same transaction. Returns the step to broadcast, or None."""
        if self.type_of(version) is None:
            return None
        try:
            with conn.begin_nested():
                return self.issue_now(conn, case, version, issued, actor=actor, now=now)
        except Exception as exc:  # never lose the result: queue it, with why
            log.warning(
                "certificate of case %s not issued now (%s); queued for retry",
                case.tracking_code,
                exc,
            )
            self.queue(conn, case, version, issued, now=now, error=f"{type(exc).__name__}: {exc}")
            return None

    def issue_now(
        self,
        conn: sa.Connection,
        case: Case,
        version: ItemVersion,
        issued: IssuedResult,
        *,
        actor: Actor,
        now: dt.datetime,
    ) -> CertificateStep | None:
        """Build, sign and store the certificate in ``conn``'s transaction, raising on any
        failure (None: issued before, by an earlier attempt)."""
        ctype = self.type_of(version)
        if ctype is None:
            raise InvalidInput(
                f"item {version.item_code} issues no certificate type known to the platform"
            )
        issuer = Agency(name=version.agency.name, credit_code=version.agency.credit_code)
        cid = CertificateId.new(ctype.code, issuer.credit_code, serial_of(issued.number))
        existing = store.load(conn, cid)
        if existing is not None:
            if existing.certificate.case_id != case.id:
                raise InvalidInput(
                    f"certificate {cid} exists already for another case "
                    f"({existing.certificate.case_id}); the department reused number "
                    f"{issued.number}"
                )
            return None  # issued before (a retry after a crash): nothing to do
        until: Any = BY_RULE
        if ctype.validity.kind is ValidityKind.BY_ISSUER or (
            ctype.validity.kind is ValidityKind.YEARS and issued.valid_until is not None
        ):
            until = issued.valid_until
        status_list, index = store.allocate(conn, issuer.credit_code)
        step = Certificate.issue(
            ctype,
            serial=cid.serial,
            issuer=issuer,
            number=issued.number,
            holder_name=case.applicant_name,
            holder=case.applicant,
            division=case.division,
            face=self.face(ctype, issued, case),
            at=now,
            actor=actor,
            status_index=index,
            status_list=status_list,
            valid_until=until,
            case_id=case.id,
        )
        credential, key_id = self.sign_certificate(step.certificate, now)
        store.insert(
            conn, step.certificate, step.event, credential=credential, key_id=key_id, signed_at=now
        )
        return step

    def queue(
        self,
        conn: sa.Connection,
        case: Case,
        version: ItemVersion,
        issued: IssuedResult,
        *,
        now: dt.datetime,
        error: str,
    ) -> None:
        conn.execute(
            sa.insert(outbox_t).values(
                id=secrets.token_hex(16),
                case_id=case.id,
                topic=ISSUE_TOPIC,
                department=version.agency.credit_code,
                payload={
                    "item_code": version.item_code,
                    "item_version": version.version,
                    "name": issued.name,
                    "number": issued.number,
                    "data": _converter.unstructure(dict(issued.data)),
                    "valid_until": issued.valid_until.isoformat() if issued.valid_until else None,
                },
                created_at=now,
                available_at=now,
                attempts=1,
                delivered_at=None,
                last_error=error[:2000],
            )
        )

    @staticmethod
    def issued_of(payload: Mapping[str, Any]) -> IssuedResult:
        until = payload.get("valid_until")
        return IssuedResult(
            name=payload["name"],
            number=payload["number"],
            data=dict(payload.get("data") or {}),
            valid_until=dt.date.fromisoformat(until) if until else None,
        )

    # --- what verifiers ask the platform -------------------------------------------------

    def parse_status_url(self, url: str) -> tuple[str, int, StatusPurpose] | None:
        head = self.urls.base + "/status/"
        if not isinstance(url, str) or not url.startswith(head):
            return None
        parts = url[len(head) :].split("/")
        if len(parts) != 3 or not parts[1].isdigit():
            return None
        try:
            return parts[0], int(parts[1]), StatusPurpose(parts[2])
        except ValueError:
            return None

    def status_credential(
        self,
        connect: Callable[[], Any],
        issuer: str,
        number: int,
        purpose: StatusPurpose,
    ) -> str:
        """The signed status list credential of an issuer's list, re-signed (and kept) when
        its bits changed since it was last signed. ``connect`` opens a write transaction."""
        key = (issuer, number, purpose)
        cached = self._lists.get(key)
        if cached is not None and time.monotonic() - cached[1] < self.list_cache_seconds:
            return cached[0]
        with connect() as conn:
            found = store.load_list(conn, issuer, number, purpose)
            version = found.version if found else 0
            if (
                found is not None
                and found.credential
                and found.signed_version == version
                and self._current_kid(issuer) in (None, _kid(found.credential))
            ):
                self._lists[key] = (found.credential, time.monotonic())
                return found.credential
            bits = found.bits if found else StatusList.empty(purpose)
            now = self._clock()
            url = self.urls.status_list(issuer, number, purpose)
            name = self.issuer_name(issuer)
            document = status_list_credential(
                bits, url=url, issuer_id=self.urls.issuer(issuer), issuer_name=name, valid_from=now
            )
            credential, _ = self.sign(document, issuer, now)
            store.save_signed_list(
                conn, issuer, number, purpose, credential=credential, version=version, now=now
            )
        self._lists[key] = (credential, time.monotonic())
        return credential

    def _current_kid(self, issuer: str) -> str | None:
        try:
            return self.keys.signer_for(issuer).key_id
        except Exception:  # no current key: keep serving what was signed
            return None

    def forget_lists(self, certificates: Sequence[Certificate]) -> None:
        """Drop this process's cached status lists of these certificates (after a commit
        that changed their bits: the next verification sees the change at once)."""
        if certificates:
            self._by_url.clear()
        for cert in certificates:
            for purpose in StatusPurpose:
                self._lists.pop((cert.issuer.credit_code, cert.status_list, purpose), None)

    def status_resolver(
        self, connect: Callable[[], Any]
    ) -> Callable[..., FetchedStatusList | None]:
        by_url = self._by_url

        def resolve(url: str, *, online: bool = True) -> FetchedStatusList | None:
            hit = by_url.get(url)
            if hit is not None and time.monotonic() - hit[1] < self.list_cache_seconds:
                return hit[0]  # the hot path: no parsing, no database
            parsed = self.parse_status_url(url)
            if parsed is None:
                return None  # not this platform's list: it cannot be fetched here
            fetched = FetchedStatusList(self.status_credential(connect, *parsed))
            by_url[url] = (fetched, time.monotonic())
            return fetched

        return resolve

    def issuer_name(self, issuer: str) -> str:
        """The department's name (from the plugged-in departments), else its credit code."""
        return self.names.get(issuer, issuer)

    # --- events ----------------------------------------------------------------------------

    def broadcast(self, steps: Sequence[CertificateStep]) -> None:
        """Tell listeners and ``govsvc_certificate_event`` hooks, after commit; a failing
        listener is logged and affects nothing. Cached status lists of the certificates are
        dropped first (their bits may have changed)."""
        self.forget_lists([step.certificate for step in steps])
        for step in steps:
            for impl in self._event_hooks:
                try:
                    impl.function(event=step.event, certificate=step.certificate)
                except Exception:
                    log.exception("certificate event hook %s failed", impl.plugin_name)
            for listener in self.listeners:
                try:
                    listener.handle(step.event, step.certificate)
                except Exception:
                    log.exception("certificate listener %s failed", listener.name)
