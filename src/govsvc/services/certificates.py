"""The e-certificate service (电子证照库): reading, the holder's library, the issuer's
lifecycle commands, verification, publication, sharing, expiry and reuse as a material.

Certificates are issued by the platform when an approved case's result is recorded (see
:mod:`govsvc.services._ecert`); this service is how principals use them. Every command is
one transaction writing the certificate, its chained event and the status list bits
together; every read of someone else's certificate is authorized with its purpose of use
(用证事由) and recorded.
"""

from __future__ import annotations

import datetime as dt
import secrets
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import sqlalchemy as sa

from govsvc.adapters import CertificateRecord
from govsvc.cases import Case, MaterialKind, ProvidedMaterial
from govsvc.ecert import (
    BY_RULE,
    CHINA,
    Certificate,
    CertificateEvent,
    CertificateId,
    CertificateIdWarning,
    CertificateStatus,
    CertificateStep,
    ReissueKind,
    StatusPurpose,
    VerificationResult,
    issue_shared_copy,
    offline_payload,
    online_payload,
    verify,
)
from govsvc.errors import CertificateNotFound, InvalidInput
from govsvc.identity import PartyKey
from govsvc.policy import Action, Resource
from govsvc.principals import Actor, Authentication, Principal
from govsvc.services._base import Service
from govsvc.services._ecert import ISSUE_TOPIC
from govsvc.services.parties import key_of
from govsvc.store import certificates as store
from govsvc.store import outbox as work
from govsvc.store.cases import load_case
from govsvc.store.certificates import Consent
from govsvc.store.chain import ChainReport, as_utc
from govsvc.store.tables import outbox_t

__all__ = [
    "AttachedCertificate",
    "CertificateLibrary",
    "CertificateService",
    "Consent",
    "ExpirySweep",
    "IssueReport",
    "IssuedCertificate",
    "MaterialOffer",
    "PendingIssue",
]

CertificateRef = CertificateId | str


@attrs.frozen
class IssuedCertificate:
    """A certificate issued on this platform, with its current signed credential."""

    certificate: Certificate
    credential: str  # the compact JWS (W3C VC 2.0)
    key_id: str
    signed_at: dt.datetime
    verification_url: str
    qr_payload: str  # what the printed QR code carries (the online payload)

    @property
    def id(self) -> CertificateId:
        return self.certificate.id

    @property
    def offline_payload(self) -> str:
        """The self-contained QR payload (``EC1:`` + Base45) for verifier apps offline."""
        return offline_payload(self.credential)


@attrs.frozen
class CertificateLibrary:
    """The holder's library (我的证照): issued here, plus what each department reports."""

    holder: PartyKey
    purpose: str
    issued: tuple[IssuedCertificate, ...]
    reported: tuple[CertificateRecord, ...]
    unavailable: Mapping[str, str]  # department code → why it did not answer


@attrs.frozen
class MaterialOffer:
    """A material of an item's guide that a certificate of the holder's can satisfy (免提交)."""

    material: str
    name: str
    ecert_type: str
    certificates: tuple[IssuedCertificate, ...]  # the holder's valid ones of that type


@attrs.frozen
class AttachedCertificate:
    """A certificate attached to a case as a material (trust level A), as the clerk sees it:
    verified now, so one revoked after it was attached shows as revoked."""

    material: str
    certificate_id: str
    certificate: Certificate | None
    consent: Consent | None
    verification: VerificationResult

    @property
    def trust_level(self) -> str:
        return "A"

    @property
    def usable(self) -> bool:
        """Verified valid now and with the holder's recorded consent."""
        return self.verification.valid and self.consent is not None


@attrs.frozen
class PendingIssue:
    """A certificate that could not be issued with its case's result, waiting for a retry."""

    id: str
    case_id: str
    department: str | None
    number: str
    attempts: int
    last_error: str
    next_attempt_at: dt.datetime


@attrs.frozen
class IssueReport:
    """What a retry pass of queued certificates did."""

    issued: int
    retrying: int
    errors: tuple[str, ...]


@attrs.frozen
class ExpirySweep:
    """What an expiry sweep did: certificates expired, reminders sent (到期提醒)."""

    on: dt.date
    expired: tuple[str, ...]
    reminded: tuple[str, ...]


def _id_of(ref: object) -> CertificateId:
    if isinstance(ref, CertificateId):
        return ref
    if not isinstance(ref, str):
        raise InvalidInput(
            f"a certificate is named by its identifier (1.2.156.3005.2.…), got {type(ref).__name__}"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CertificateIdWarning)
        return CertificateId.parse(ref)


def _reason(reason: object, command: str) -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidInput(
            f"give the reason to {command} the certificate (it is recorded and shown to anyone "
            "who verifies it)"
        )
    return reason


class CertificateService(Service):
    """E-certificates as the session's principal may read, manage, verify and reuse them."""

    # --- reading -------------------------------------------------------------------------

    def _view(self, row: store.StoredRow) -> IssuedCertificate:
        urls = self._rt.ecert.urls
        cid = row.certificate.id
        return IssuedCertificate(
            certificate=row.certificate,
            credential=row.credential,
            key_id=row.key_id,
            signed_at=row.signed_at,
            verification_url=urls.verification(cid),
            qr_payload=online_payload(cid, urls),
        )

    def _load(self, conn: sa.Connection, ref: CertificateRef) -> store.StoredRow:
        cid = _id_of(ref)
        found = store.load(conn, cid)
        if found is None:
            raise CertificateNotFound(
                f"no e-certificate {cid} on this platform; check the identifier printed under "
                "the QR code"
            )
        return found

    def get(self, ref: CertificateRef, *, purpose: str | None = None) -> IssuedCertificate:
        """A certificate with its credential (a recorded read unless it is one's own)."""
        row, _ = self._read(ref, purpose)
        return self._view(row)

    def of_case(self, case: Case | str, *, purpose: str | None = None) -> list[IssuedCertificate]:
        """The certificates a case's result produced (re-issues of them included)."""
        found = self._session.cases.peek(case)
        why = self._purpose(purpose)
        with self._rt.read() as conn:
            rows = store.of_case(conn, found.id)
        for row in rows:
            self._authorized_read(row, why)
        return [self._view(row) for row in rows]

    def trail(self, ref: CertificateRef, *, purpose: str | None = None) -> list[CertificateEvent]:
        """The certificate's events, oldest first (each with the principal who caused it)."""
        row, _ = self._read(ref, purpose)
        with self._rt.read() as conn:
            return store.events_of(conn, row.certificate.id)

    def verify_trail(self, ref: CertificateRef, *, purpose: str | None = None) -> ChainReport:
        """Recompute the certificate's event chain; names the first altered or missing event."""
        row, _ = self._read(ref, purpose)
        with self._rt.read() as conn:
            return store.verify_trail(conn, row)

    def _read(self, ref: CertificateRef, purpose: str | None) -> tuple[store.StoredRow, Resource]:
        """Load, authorize ``certificates.read`` with the purpose, record the read."""
        with self._rt.read() as conn:
            row = self._load(conn, ref)
        return row, self._authorized_read(row, self._purpose(purpose))

    def _authorized_read(self, row: store.StoredRow, why: str) -> Resource:
        session = self._session
        resource = Resource.of_certificate(row.certificate, purpose=why, today=self._rt.today())
        decision = self._authorize(Action.CERTIFICATE_READ, resource)
        if session.reads_personal_data_of(resource):
            self._rt.record_access(
                [session.read_record(Action.CERTIFICATE_READ, resource, decision)]
            )
        return resource

    def library(self, holder: str | PartyKey, *, purpose: str | None = None) -> CertificateLibrary:
        """The holder's library (我的证照): the certificates issued here and those every
        department's ``certificates`` operation reports (asked concurrently). The purpose of
        use (用证事由) is required and recorded: in the access log for a read by anyone but
        the holder, and with every department call in the exchange log (both are in the
        holder's data-use log)."""
        key = key_of(holder)
        why = self._purpose(purpose)
        if not why:
            raise InvalidInput(
                "purpose must be given (用证事由 / purpose of use), e.g. 查看我的证照"
            )
        self._authorize(Action.CERTIFICATE_LIBRARY, Resource.of_party(key, purpose=why))
        with self._rt.read() as conn:
            rows = store.by_holder(conn, key)
        reported = self._session.parties.certificates(key, purpose=why)
        return CertificateLibrary(
            holder=key,
            purpose=why,
            issued=tuple(self._view(r) for r in rows),
            reported=reported.records,
            unavailable=dict(reported.unavailable),
        )

    # --- the issuer's lifecycle ------------------------------------------------------------

    def _command(
        self,
        ref: CertificateRef,
        step: Callable[[Certificate, dt.datetime, Actor], CertificateStep],
        *,
        action: Action = Action.CERTIFICATE_MANAGE,
    ) -> Certificate:
        rt = self._rt
        now = rt.now()
        with rt.write() as conn:
            row = self._load(conn, ref)
            self._authorize(action, Resource.of_certificate(row.certificate, today=rt.today()))
            result = step(row.certificate, now, self.principal.actor)
            store.update(conn, row, result.certificate, result.event)
            store.update_bits(conn, result.certificate, now=now)
        rt.ecert.broadcast([result])
        return result.certificate

    def suspend(self, ref: CertificateRef, *, reason: str) -> Certificate:
        """Suspend (暂停, e.g. 暂扣): verifiers see it suspended until :meth:`resume`."""
        why = _reason(reason, "suspend")
        return self._command(ref, lambda c, at, actor: c.suspend(reason=why, at=at, actor=actor))

    def resume(self, ref: CertificateRef, *, note: str = "") -> Certificate:
        """End a suspension: the certificate is valid again."""
        self._arg(note, "note", max_length=500)
        return self._command(ref, lambda c, at, actor: c.resume(at=at, actor=actor, note=note))

    def revoke(self, ref: CertificateRef, *, reason: str) -> Certificate:
        """Revoke (吊销/撤销): final; the reason is recorded and shown to verifiers."""
        why = _reason(reason, "revoke")
        return self._command(ref, lambda c, at, actor: c.revoke(reason=why, at=at, actor=actor))

    def cancel(self, ref: CertificateRef, *, reason: str) -> Certificate:
        """Cancel (注销, e.g. the business closed): final."""
        why = _reason(reason, "cancel")
        return self._command(ref, lambda c, at, actor: c.cancel(reason=why, at=at, actor=actor))

    def reissue(
        self,
        ref: CertificateRef,
        kind: ReissueKind,
        *,
        reason: str = "",
        number: str | None = None,
        face: Mapping[str, Any] | None = None,
        valid_until: dt.date | Any | None = BY_RULE,
    ) -> IssuedCertificate:
        """Re-issue (换发 ``RENEWAL`` / 补发 ``REPLACEMENT``): the next version, linked to its
        predecessor, signed and stored; the predecessor is cancelled (superseded), in one
        transaction. Returns the new certificate."""
        if not isinstance(kind, ReissueKind):
            raise InvalidInput(
                "kind must be ReissueKind.RENEWAL (换发) or ReissueKind.REPLACEMENT (补发)"
            )
        self._arg(reason, "reason", max_length=500)
        rt = self._rt
        now = rt.now()
        with rt.write() as conn:
            row = self._load(conn, ref)
            old = row.certificate
            self._authorize(
                Action.CERTIFICATE_MANAGE, Resource.of_certificate(old, today=rt.today())
            )
            ctype = rt.ecert.types.get(old.type_code)
            status_list, index = store.allocate(conn, old.issuer.credit_code)
            done = old.reissue(
                kind,
                ctype,
                at=now,
                actor=self.principal.actor,
                status_index=index,
                status_list=status_list,
                reason=reason,
                number=number,
                face=face,
                valid_until=valid_until,
                case_id=old.case_id,
            )
            new = done.issued.certificate
            credential, key_id = rt.ecert.sign_certificate(new, now)
            store.update(conn, row, done.superseded.certificate, done.superseded.event)
            store.update_bits(conn, done.superseded.certificate, now=now)
            store.insert(
                conn, new, done.issued.event, credential=credential, key_id=key_id, signed_at=now
            )
            stored = store.load(conn, new.id)
        assert stored is not None
        rt.ecert.broadcast([done.superseded, done.issued])
        return self._view(stored)

    # --- verification and publication ------------------------------------------------------

    def _document(self, cid: CertificateId) -> str | None:
        with self._rt.read() as conn:
            row = store.load(conn, cid)
        return None if row is None else row.credential

    def verify(
        self,
        document_or_qr_payload: str | bytes,
        *,
        online: bool = True,
        max_status_age: dt.timedelta | None = dt.timedelta(days=1),
    ) -> VerificationResult:
        """Verify a credential, a scanned QR payload or a shared copy against the platform's
        keys and stored status lists. Never raises: every problem is a check with a reason
        (:class:`govsvc.ecert.VerificationResult`), and nothing is "valid" without a status."""
        self._authorize(Action.CERTIFICATE_VERIFY, Resource.platform())
        rt = self._rt
        ecert = rt.ecert
        if ecert.resolver is None:  # made once: the status lists come from the platform's store
            ecert.resolver = ecert.status_resolver(rt.write)
        return verify(
            document_or_qr_payload,
            keys=ecert.keys,
            status=ecert.resolver,
            online=online,
            now=rt.now(),
            documents=self._document,
            max_status_age=max_status_age,
        )

    def jwks(self, issuer: str | None = None) -> dict[str, list[dict[str, str]]]:
        """The issuers' published key set ``{"keys": [...]}`` (public keys only; retired keys
        with ``retired_at``; revoked keys left out); one department's with ``issuer``."""
        self._authorize(Action.CERTIFICATE_VERIFY, Resource.platform())
        if issuer is not None:
            self._arg(issuer, "issuer", max_length=18)
        return self._rt.ecert.keys.jwks(issuer)

    def status_list(self, issuer: str, number: int, purpose: StatusPurpose | str) -> str:
        """The signed status list credential (compact JWS) published at
        ``EcertUrls.status_list(issuer, number, purpose)``."""
        self._authorize(Action.CERTIFICATE_VERIFY, Resource.platform())
        self._arg(issuer, "issuer", max_length=18)
        if isinstance(number, bool) or not isinstance(number, int) or not 0 <= number < 10_000:
            raise InvalidInput(f"a status list number is a whole number 0-9999, got {number!r}")
        try:
            chosen = StatusPurpose(purpose) if isinstance(purpose, str) else purpose
        except ValueError:
            raise InvalidInput(
                f"status purpose {purpose!r} is not one of revocation, suspension"
            ) from None
        if not isinstance(chosen, StatusPurpose):
            raise InvalidInput("purpose must be a StatusPurpose or 'revocation' / 'suspension'")
        rt = self._rt
        issuers = {k.issuer for k in rt.ecert.keys.keys()}  # noqa: SIM118 (not a dict)
        if issuer not in issuers:
            raise CertificateNotFound(f"no issuing department {issuer!r} has status lists here")
        return rt.ecert.status_credential(rt.write, issuer, number, chosen)

    # --- sharing (加注件) --------------------------------------------------------------------

    def share(
        self,
        ref: CertificateRef,
        *,
        purpose: str,
        expires: dt.datetime,
        recipient: str = "",
    ) -> str:
        """A shared copy (加注件) for one purpose until ``expires``, signed by the issuing
        department's current key: verification checks its expiry and the original's status."""
        why = self._arg(purpose, "purpose", max_length=200).strip()
        if not why:
            raise InvalidInput("a shared copy needs its purpose of use (用证事由)")
        self._arg(recipient, "recipient", max_length=200)
        rt = self._rt
        with rt.read() as conn:
            row = self._load(conn, ref)
        cert = row.certificate
        self._authorize(Action.CERTIFICATE_SHARE, Resource.of_certificate(cert))
        now = rt.now()
        return issue_shared_copy(
            row.credential,
            rt.ecert.keys.signer_for(cert.issuer.credit_code),
            rt.ecert.urls,
            purpose=why,
            expires=expires,
            shared_by=cert.issuer,
            at=now,
            recipient=recipient,
        )

    # --- work: retries and the expiry sweep ---------------------------------------------------

    def pending(self) -> list[PendingIssue]:
        """Certificates not issued with their case's result, waiting for a retry, with why."""
        self._authorize(Action.CERTIFICATE_WORK, Resource.platform())
        with self._rt.read() as conn:
            rows = conn.execute(
                sa.select(outbox_t)
                .where(outbox_t.c.topic == ISSUE_TOPIC, outbox_t.c.delivered_at.is_(None))
                .order_by(outbox_t.c.created_at, outbox_t.c.id)
            ).all()
        return [
            PendingIssue(
                id=r.id,
                case_id=r.case_id,
                department=r.department,
                number=r.payload.get("number", ""),
                attempts=r.attempts,
                last_error=r.last_error or "",
                next_attempt_at=as_utc(r.available_at),
            )
            for r in rows
        ]

    def issue_pending(self, *, limit: int = 100) -> IssueReport:
        """Retry the certificates queued when their case's result was recorded (a missing or
        retired key, a failing HSM, a face the type refused). Each success is settled in the
        transaction that stores the certificate; each failure waits longer (backoff)."""
        self._authorize(Action.CERTIFICATE_WORK, Resource.platform())
        rt = self._rt
        now, worker = rt.now(), f"ecert-{secrets.token_hex(8)}"
        with rt.write() as conn:
            rows: list[Any] = []
            for department in work.due_departments(conn, [ISSUE_TOPIC], now):
                rows += work.claim(
                    conn,
                    [ISSUE_TOPIC],
                    department=department,
                    worker=worker,
                    now=now,
                    lease_until=now + dt.timedelta(minutes=5),
                    limit=max(0, limit - len(rows)),
                )
        issued = retrying = 0
        errors: list[str] = []
        steps: list[CertificateStep] = []
        for row in rows:
            with rt.write() as conn:
                case = load_case(conn, case_id=row.case_id)
                if case is None:
                    work.settle(conn, row, worker=worker, now=now, note="skipped: no such case")
                    continue
                version = rt.version_in(conn, case.item_code, case.item_version)
                actor = _issuer_actor(row.department or version.agency.credit_code, rt)
                try:
                    with conn.begin_nested():
                        step = rt.ecert.issue_now(
                            conn,
                            case,
                            version,
                            rt.ecert.issued_of(row.payload),
                            actor=actor,
                            now=now,
                        )
                except Exception as exc:
                    error = f"{type(exc).__name__}: {exc}"
                    errors.append(f"case {case.tracking_code}: {error}")
                    policy = rt.work
                    work.retry_later(
                        conn,
                        row,
                        worker=worker,
                        now=now,
                        error=error,
                        base=policy.retry_base,
                        cap=policy.retry_cap,
                    )
                    retrying += 1
                    continue
                work.settle(conn, row, worker=worker, now=now, attempted=True)
                issued += 1
                if step is not None:
                    steps.append(step)
        rt.ecert.broadcast(steps)
        return IssueReport(issued=issued, retrying=retrying, errors=tuple(errors))

    def sweep_expiry(
        self, *, on: dt.date | None = None, days_before: int = 30, limit: int = 1000
    ) -> ExpirySweep:
        """Mark certificates past their last valid day expired, and record a renewal
        reminder (到期提醒, 主动服务) for those ending within ``days_before`` days — once per
        end date. Listeners of the ``reminded`` event (SMS, the portal) tell the holder."""
        self._authorize(Action.CERTIFICATE_WORK, Resource.platform())
        if (
            isinstance(days_before, bool)
            or not isinstance(days_before, int)
            or not 1 <= days_before <= 366
        ):
            raise InvalidInput(f"days_before must be 1-366, got {days_before!r}")
        rt = self._rt
        day = on or rt.today()
        at = rt.now() if on is None else dt.datetime.combine(day, dt.time(9, 0), CHINA)
        actor = Principal.platform().actor
        expired: list[str] = []
        reminded: list[str] = []
        with rt.read() as conn:
            due = store.due_expiry(conn, day, limit=limit)
            soon = store.due_reminders(conn, day, days_before=days_before, limit=limit)
        for row, command in [(r, "expire") for r in due] + [(r, "remind") for r in soon]:
            cert = row.certificate
            if command == "remind" and cert.reminded_for == cert.valid_until:
                continue
            with rt.write() as conn:
                current = store.load(conn, cert.id)
                if current is None or current.certificate.seq != cert.seq:
                    continue  # changed meanwhile: the next sweep looks again
                step = (
                    cert.expire(at=at, actor=actor)
                    if command == "expire"
                    else cert.remind(at=at, actor=actor, days_before=days_before)
                )
                store.update(conn, current, step.certificate, step.event)
                store.update_bits(conn, step.certificate, now=rt.now())
            rt.ecert.broadcast([step])
            (expired if command == "expire" else reminded).append(str(cert.id))
        return ExpirySweep(on=day, expired=tuple(expired), reminded=tuple(reminded))

    # --- reuse as a material (免提交) ----------------------------------------------------------

    def offer(
        self, item_code: str, holder: str | PartyKey, *, purpose: str | None = None
    ) -> list[MaterialOffer]:
        """The materials of the item's newest guide that say "satisfied by certificate type
        X", each with the holder's valid certificates of that type (to pick and consent)."""
        self._arg(item_code, "item_code", max_length=36)
        key = key_of(holder)
        resource = Resource.of_party(key, purpose=self._purpose(purpose))
        decision = self._authorize(Action.CERTIFICATE_LIBRARY, resource)
        rt = self._rt
        with rt.read() as conn:
            version = rt.latest_in(conn, item_code.strip().upper())
            offers = []
            for material in version.materials:
                if not material.ecert_type:
                    continue
                rows = store.by_holder(
                    conn, key, type_code=material.ecert_type, statuses=[CertificateStatus.VALID]
                )
                today = rt.today()
                usable = [r for r in rows if not r.certificate.expired_on(today)]
                offers.append(
                    MaterialOffer(
                        material=material.code,
                        name=material.name,
                        ecert_type=material.ecert_type,
                        certificates=tuple(self._view(r) for r in usable),
                    )
                )
        if self._session.reads_personal_data_of(resource):
            rt.record_access(
                [self._session.read_record(Action.CERTIFICATE_LIBRARY, resource, decision)]
            )
        return offers

    def _checked_use(
        self, conn: sa.Connection, ref: CertificateRef, item_code: str, material: str
    ) -> store.StoredRow:
        row = self._load(conn, ref)
        cert = row.certificate
        self._authorize(Action.CERTIFICATE_CONSENT, Resource.of_certificate(cert))
        version = self._rt.latest_in(conn, item_code)
        spec = version.material(material)  # MaterialNotAllowed lists the codes
        if spec.ecert_type != cert.type_code:
            wanted = spec.ecert_type or "no e-certificate"
            raise InvalidInput(
                f"material {material} ({spec.name}) is satisfied by {wanted}; certificate "
                f"{cert.id} is a {cert.type_name} ({cert.type_code})"
            )
        if cert.status is not CertificateStatus.VALID or cert.expired_on(self._rt.today()):
            raise InvalidInput(
                f"certificate {cert.number} ({cert.type_name}) is {cert.status.label}; only a "
                "valid certificate can be used as a material"
            )
        return row

    def _consent_of(
        self, row: store.StoredRow, item_code: str, material: str, case_id: str | None
    ) -> Consent:
        return Consent(
            id=secrets.token_hex(16),
            certificate_id=str(row.certificate.id),
            holder=row.certificate.holder,
            item_code=item_code,
            material=material,
            case_id=case_id,
            purpose=f"用于办理事项 {item_code} 的材料 {material}",
            at=self._rt.now(),
            actor=self.principal.actor,
        )

    def consent(self, ref: CertificateRef, *, item_code: str, material: str) -> ProvidedMaterial:
        """Record the holder's consent to use a certificate as ``material`` of an application
        for ``item_code``; returns the material to pass to ``cases.apply`` (a reference, not
        an upload: trust level A)."""
        code = self._arg(item_code, "item_code", max_length=36).strip().upper()
        self._arg(material, "material", max_length=20)
        with self._rt.write() as conn:
            row = self._checked_use(conn, ref, code, material)
            store.add_consent(conn, self._consent_of(row, code, material, None))
        return ProvidedMaterial(
            code=material, kind=MaterialKind.ECERT, reference=str(row.certificate.id)
        )

    def attach(self, case: Case | str, ref: CertificateRef, *, material: str) -> Case:
        """Attach a certificate to a draft as ``material``, with the holder's consent recorded
        in the same transaction as the draft's change."""
        self._arg(material, "material", max_length=20)
        draft = self._session.cases.peek(case)
        with self._rt.read() as conn:
            row = self._checked_use(conn, ref, draft.item_code, material)
        if row.certificate.holder != draft.applicant:
            raise InvalidInput(
                f"certificate {row.certificate.number} is held by "
                f"{row.certificate.holder.masked()}, not by the applicant "
                f"{draft.applicant.masked()}"
            )
        provided = ProvidedMaterial(
            code=material, kind=MaterialKind.ECERT, reference=str(row.certificate.id)
        )

        def step(c: Case, v: Any, now: dt.datetime, actor: Actor) -> Any:
            kept = [m for m in c.materials if m.code != material]
            return c.update_draft(v, materials=[*kept, provided], now=now, actor=actor)

        def record(conn: sa.Connection, stored: Case) -> None:
            store.add_consent(conn, self._consent_of(row, stored.item_code, material, stored.id))

        return self._session.cases.run_command(case, Action.CASE_UPDATE_DRAFT, step, also=record)

    def attached(
        self, case: Case | str, *, purpose: str | None = None
    ) -> list[AttachedCertificate]:
        """The certificates attached to a case as materials, each verified now (signature,
        key, validity, status) with its consent: what the clerk checks."""
        found = self._session.cases.peek(case)
        why = self._purpose(purpose)
        resource = Resource.of_case(found, today=self._rt.today(), purpose=why)
        decision = self._authorize(Action.CASE_READ, resource)
        refs = [m for m in found.materials if m.kind is MaterialKind.ECERT]
        with self._rt.read() as conn:
            consents = store.consents_of_case(conn, found.id)
            rows = {m.reference: store.load(conn, m.reference) for m in refs}
            earlier = {m.reference: store.consents_of_certificate(conn, m.reference) for m in refs}
        if self._session.reads_personal_data_of(resource):
            self._rt.record_access(
                [self._session.read_record(Action.CASE_READ, resource, decision)]
            )
        result = []
        for m in refs:
            row = rows.get(m.reference)
            consent = next(
                (c for c in consents if c.certificate_id == m.reference and c.material == m.code),
                None,
            ) or next(
                (
                    c
                    for c in earlier.get(m.reference, [])
                    if c.case_id is None and c.item_code == found.item_code and c.material == m.code
                ),
                None,
            )
            result.append(
                AttachedCertificate(
                    material=m.code,
                    certificate_id=m.reference,
                    certificate=row.certificate if row else None,
                    consent=consent,
                    verification=self.verify(row.credential if row else m.reference),
                )
            )
        return result


def _issuer_actor(issuer: str, rt: Any) -> Actor:
    department = rt.departments.get(issuer)
    name = department.name if department else rt.ecert.issuer_name(issuer)
    return Principal.department_system(
        issuer, name, auth=Authentication(provider="platform", subject="ecert")
    ).actor
