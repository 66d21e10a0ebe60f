"""Notifications to applicants (办件通知): in-portal messages and SMS, as event listeners.

The SDK tells listeners of every committed case event (``Platform.subscribe``, the same
mechanism as the ``govsvc_event_listeners`` hook). :class:`Notifications` is one listener:
for the events an applicant must hear about (a one-time notice, acceptance, suspension,
the decision, the result ready, a certificate about to expire) it writes, in one
transaction of the host's tables,

* a **message** for the portal's 我的消息 page (``host_messages``), and
* an **SMS** to the applicant's phone, queued (``host_sms``) and then handed to the
  :class:`SmsProvider`.

Both rows are keyed by the event (``<case id>:<seq>``) and the recipient, so an event
delivered twice (a listener re-run, two host processes) makes one message and one SMS. An
SMS whose provider call failed stays ``pending`` and is sent again on the next event and by
the ``send_sms`` job (:meth:`Notifications.flush`, every 30 s).

Events are matched **by name** (``event.kind.value``), so a kind the SDK adds later is
notified as soon as it exists, without a change here. The certificate library's renewal
reminder (a certificate event ``reminded``, 到期提醒, through
``Platform.subscribe_certificates`` where the SDK has it) becomes ``certificate_expiring``;
other reminders call :meth:`Notifications.notify` directly.

The demo's provider (:class:`OutboxSmsProvider`) sends nothing: the queued SMS, marked sent,
are what the 短信发件箱 page (``/portal/sms``) shows staff. A city plugs its gateway in by
passing another ``SmsProvider`` to :func:`govsvc_host.app.create_app`.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol, runtime_checkable

import attrs
import sqlalchemy as sa

import govsvc
from govsvc import Case, CaseEvent, PartyKey, Platform
from govsvc_host.store import metadata

__all__ = [
    "NOTIFIED",
    "Message",
    "Notifications",
    "OutboxSmsProvider",
    "SentSms",
    "SmsProvider",
]

log = logging.getLogger("govsvc_host.notifications")

messages_t = sa.Table(
    "host_messages",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("recipient", sa.String(60), nullable=False, index=True),  # "<doc type>:<number>"
    sa.Column("event", sa.String(200), nullable=False),  # "<case id>:<seq>" or a reminder id
    sa.Column("kind", sa.String(60), nullable=False),
    sa.Column("case_id", sa.String(64), nullable=True),
    sa.Column("tracking_code", sa.String(40), nullable=True),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
    sa.UniqueConstraint("event", "recipient", name="uq_host_messages_event"),
)

sms_t = sa.Table(
    "host_sms",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("recipient", sa.String(60), nullable=False),
    sa.Column("phone", sa.String(40), nullable=False),
    sa.Column("event", sa.String(200), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),  # pending | sent
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("provider", sa.String(60), nullable=True),
    sa.Column("provider_id", sa.String(200), nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
    sa.UniqueConstraint("event", "recipient", name="uq_host_sms_event"),
)

# Event name → (title, what the message says). ``{code}`` is the tracking code, ``{item}``
# the item's name, ``{detail}`` what the event carries (the notice, the reason, …).
NOTIFIED: dict[str, tuple[str, str]] = {
    "supplement_requested": (
        "需补正材料（一次性告知）",
        "您申请的“{item}”（办件编码 {code}）需补正材料：{detail}。"
        "请登录政务服务网一次提交补正材料。",
    ),
    "accepted": ("已受理", "您申请的“{item}”（办件编码 {code}）已受理，承诺 {detail} 前办结。"),
    "not_accepted": ("不予受理", "您申请的“{item}”（办件编码 {code}）不予受理：{detail}。"),
    "suspended": ("办件挂起", "您申请的“{item}”（办件编码 {code}）暂停计时：{detail}。"),
    "approved": ("准予许可", "您申请的“{item}”（办件编码 {code}）已准予许可，正在制作结果。"),
    "denied": ("不予许可", "您申请的“{item}”（办件编码 {code}）不予许可：{detail}。"),
    "result_ready": (
        "办理结果已制作",
        "您申请的“{item}”（办件编码 {code}）办理结果已制作完成：{detail}。",
    ),
    # Named by the certificate library's expiry reminder; notified once that kind exists.
    "certificate_expiring": ("证照即将到期", "您的证照{detail}，请及时办理延续或换证。"),
}


@attrs.frozen(kw_only=True)
class SentSms:
    """What a provider answers for one SMS: its own message id."""

    provider: str
    provider_id: str


@runtime_checkable
class SmsProvider(Protocol):
    """An SMS gateway (短信平台). ``send`` raises on failure; the SMS is then retried."""

    name: str

    def send(self, phone: str, text: str) -> SentSms: ...


class OutboxSmsProvider:
    """The demo gateway: sends nothing; the SMS it accepted are on the 短信发件箱 page."""

    name = "demo-outbox"

    def send(self, phone: str, text: str) -> SentSms:
        return SentSms(provider=self.name, provider_id=f"demo-{secrets.token_hex(6)}")


gateway: SmsProvider = OutboxSmsProvider()
"""The SMS gateway when none is passed: a city sets its own here (in the web processes and
the workers alike, e.g. from a plugin's import) or passes one to ``create_app(sms=...)``."""


@attrs.frozen(kw_only=True)
class Message:
    id: str
    kind: str
    title: str
    body: str
    case_id: str | None
    tracking_code: str | None
    created_at: dt.datetime
    read_at: dt.datetime | None


def recipient_of(key: PartyKey) -> str:
    return str(key)


class Notifications:
    """The applicant-notification listener and the host's message and SMS tables."""

    def __init__(
        self,
        platform: Platform,
        provider: SmsProvider | None = None,
        *,
        item_name: Callable[[str], str] | None = None,
    ) -> None:
        self.platform = platform
        self.engine = platform.engine
        self.provider: SmsProvider = provider or gateway
        self._item_name = item_name or (lambda code: code)
        self._listener: govsvc.EventListener | None = None

    # --- the listener ------------------------------------------------------------------------

    def subscribe(self) -> None:
        """Listen to every case event (matched by name in :meth:`handle`), and to the
        certificate library's events where this SDK has them (:meth:`certificate_event`)."""
        if self._listener is None:
            self._listener = self.platform.subscribe((), self.handle, name="host-notifications")
            certificates = getattr(self.platform, "subscribe_certificates", None)
            if callable(certificates):
                certificates(self.certificate_event, name="host-notifications")

    def unsubscribe(self) -> None:
        if self._listener is not None:
            self.platform.unsubscribe(self._listener)
            self._listener = None

    def handle(self, event: CaseEvent, case: Case) -> None:
        name = event.kind.value
        if name not in NOTIFIED:
            return
        title, text = NOTIFIED[name]
        detail = _detail(event, case)
        try:
            item = self._item_name(case.item_code)
        except govsvc.GovsvcError:
            item = case.item_code
        body = text.format(
            item=item,
            code=govsvc.TrackingCode.display(case.tracking_code),
            detail=detail or "详见办件页面",
        )
        self.notify(
            case.applicant,
            event=f"{case.id}:{event.seq}",
            kind=name,
            title=title,
            body=body,
            case_id=case.id,
            tracking_code=case.tracking_code,
            phone=self._phone_of(case.applicant),
        )

    def certificate_event(self, event: Any, certificate: Any) -> None:
        """A certificate event: the renewal reminder (``reminded``, 到期提醒) is notified as
        ``certificate_expiring``, once per certificate version."""
        if getattr(event.kind, "value", "") not in ("reminded", "certificate_expiring"):
            return
        title, text = NOTIFIED["certificate_expiring"]
        until = certificate.valid_until.isoformat() if certificate.valid_until else ""
        detail = f"“{certificate.name}”（编号 {certificate.number}）将于 {until} 到期"
        self.notify(
            certificate.holder,
            event=f"certificate:{certificate.id}:{event.seq}",
            kind="certificate_expiring",
            title=title,
            body=text.format(detail=detail),
            case_id=getattr(certificate, "case_id", None),
            phone=self._phone_of(certificate.holder),
        )

    def _phone_of(self, key: PartyKey) -> str | None:
        # The registered party's phone (the one-number record the application stored), read
        # as the platform for this purpose: an SMS needs the number, nothing else.
        party = self.platform.system().parties.get(key, purpose="办件短信通知")
        return getattr(party, "phone", None) if party is not None else None

    def notify(
        self,
        recipient: PartyKey,
        *,
        event: str,
        kind: str,
        title: str,
        body: str,
        case_id: str | None = None,
        tracking_code: str | None = None,
        phone: str | None = None,
    ) -> bool:
        """Write the message (and the SMS, given a phone) once per ``event`` and recipient;
        False when this event was notified already. Then try the pending SMS."""
        who = recipient_of(recipient)
        now = self.platform.now()
        try:
            with self.engine.begin() as conn:
                conn.execute(messages_t.insert().values(
                    id=secrets.token_hex(12), recipient=who, event=event[:200], kind=kind,
                    case_id=case_id, tracking_code=tracking_code, title=title, body=body,
                    created_at=now, read_at=None,
                ))
                if phone:
                    conn.execute(sms_t.insert().values(
                        id=secrets.token_hex(12), recipient=who, phone=phone, event=event[:200],
                        text=f"【政务服务】{body}", status="pending", attempts=0,
                        created_at=now,
                    ))
        except sa.exc.IntegrityError:
            return False  # this event reached this recipient before: once is enough
        self.flush()
        return True

    def ready(self) -> bool:
        """Whether the host's tables exist here (``govsvc-host db upgrade`` makes them)."""
        with self.engine.connect() as conn:
            return bool(sa.inspect(conn).has_table(sms_t.name))

    def flush(self, *, limit: int = 50) -> int:
        """Hand pending SMS to the provider; returns how many were sent."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(sms_t.c.id, sms_t.c.phone, sms_t.c.text)
                .where(sms_t.c.status == "pending")
                .order_by(sms_t.c.created_at)
                .limit(limit)
            ).all()
        sent = 0
        for row in rows:
            try:
                answer = self.provider.send(row.phone, row.text)
            except Exception as exc:  # a gateway's failure: kept pending, retried
                log.warning("SMS %s not sent: %s", row.id, exc)
                with self.engine.begin() as conn:
                    conn.execute(sms_t.update().where(sms_t.c.id == row.id).values(
                        attempts=sms_t.c.attempts + 1, error=str(exc)[:2000]))
                continue
            with self.engine.begin() as conn:
                conn.execute(
                    sms_t.update()
                    .where(sms_t.c.id == row.id, sms_t.c.status == "pending")
                    .values(status="sent", attempts=sms_t.c.attempts + 1,
                            provider=answer.provider, provider_id=answer.provider_id,
                            sent_at=self.platform.now(), error=None)
                )
            sent += 1
        return sent

    # --- reading -----------------------------------------------------------------------------

    def messages(
        self, recipients: Iterable[PartyKey], *, limit: int = 20, before: str | None = None
    ) -> tuple[list[Message], str | None]:
        """Messages of these recipients, newest first, in keyset pages (``before`` = the
        last page's cursor); returns (messages, next cursor or None)."""
        who = [recipient_of(k) for k in recipients]
        query = sa.select(messages_t).where(messages_t.c.recipient.in_(who))
        if before:
            at, _, ident = before.partition("|")
            try:
                moment = dt.datetime.fromisoformat(at)
            except ValueError:
                raise govsvc.InvalidInput(
                    f"分页参数 before 有误（{before[:60]!r}），请从第一页重新浏览"
                ) from None
            query = query.where(sa.or_(
                messages_t.c.created_at < moment,
                sa.and_(messages_t.c.created_at == moment, messages_t.c.id < ident),
            ))
        with self.engine.connect() as conn:
            rows = conn.execute(
                query.order_by(messages_t.c.created_at.desc(), messages_t.c.id.desc())
                .limit(limit + 1)
            ).all()
        found = [_message(r) for r in rows[:limit]]
        cursor = None
        if len(rows) > limit:
            last = found[-1]
            cursor = f"{last.created_at.isoformat()}|{last.id}"
        return found, cursor

    def unread(self, recipients: Iterable[PartyKey]) -> int:
        who = [recipient_of(k) for k in recipients]
        with self.engine.connect() as conn:
            return int(conn.execute(
                sa.select(sa.func.count()).select_from(messages_t).where(
                    messages_t.c.recipient.in_(who), messages_t.c.read_at.is_(None))
            ).scalar_one())

    def mark_read(self, recipients: Iterable[PartyKey]) -> int:
        who = [recipient_of(k) for k in recipients]
        with self.engine.begin() as conn:
            done = conn.execute(
                messages_t.update()
                .where(messages_t.c.recipient.in_(who), messages_t.c.read_at.is_(None))
                .values(read_at=self.platform.now())
            )
        return int(done.rowcount or 0)

    def outbox(self, *, limit: int = 100) -> list[dict[str, Any]]:
        """The SMS queue, newest first, phones masked (the 短信发件箱 page)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(sms_t).order_by(sms_t.c.created_at.desc(), sms_t.c.id).limit(limit)
            ).all()
        return [
            {"phone": _mask_phone(r.phone), "text": r.text, "status": r.status,
             "attempts": r.attempts, "provider": r.provider or "", "provider_id":
             r.provider_id or "", "error": r.error or "", "created_at": _aware(r.created_at),
             "sent_at": _aware(r.sent_at)}
            for r in rows
        ]


def _detail(event: CaseEvent, case: Case) -> str:
    name = event.kind.value
    payload: Any = event.payload
    if name == "supplement_requested" and case.notice is not None:
        return "；".join(f"{i.name}（{i.detail}）" for i in case.notice.items)
    if name == "accepted" and case.deadline is not None:
        return case.deadline.promised.isoformat()
    if name == "suspended":
        return f"{getattr(payload, 'reason', '')}，{getattr(payload, 'notice', '')}".strip("，")
    if name == "not_accepted" and case.refusal is not None:
        return case.refusal.reason
    if name == "denied" and case.decision is not None:
        return case.decision.reason or ""
    if name == "result_ready" and case.result is not None:
        return f"{case.result.name} {case.result.number}".strip()
    for field in ("certificate", "name", "detail"):
        value = getattr(payload, field, None)
        if isinstance(value, str) and value:
            return value
    return ""


def _mask_phone(phone: str) -> str:
    digits = "".join(ch for ch in phone if ch.isdigit())
    return f"{digits[:-8]}****{digits[-4:]}" if len(digits) >= 8 else "****"


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is not None and value.tzinfo is None:  # SQLite gives naive UTC back
        return value.replace(tzinfo=dt.UTC)
    return value


def _message(row: Any) -> Message:
    return Message(
        id=row.id, kind=row.kind, title=row.title, body=row.body, case_id=row.case_id,
        tracking_code=row.tracking_code, created_at=_aware(row.created_at) or row.created_at,
        read_at=_aware(row.read_at),
    )


def keys_of(principal: govsvc.Principal) -> Sequence[PartyKey]:
    """The recipients a principal reads messages for: themselves and whom they act for."""
    return [k for k in (principal.party, principal.acting_for) if k is not None]
