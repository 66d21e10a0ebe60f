"""The plugin contract: every hook a govsvc plugin may implement.

Plugins are found through the ``govsvc`` entry-point group (or passed to
``Platform.open(url, plugins=[...])``) and implement hooks with the marker re-exported at the
package root::

    from govsvc import hookimpl

Every hook name starts with ``govsvc_``. A plugin that defines a ``govsvc_*`` attribute the
spec does not know (a typo such as ``govsvc_departmnets``) fails at start-up with
:class:`govsvc.PluginError` naming the plugin and the hook.

Registration hooks (``govsvc_departments``, ``govsvc_service_items``,
``govsvc_identity_providers``, ``govsvc_payment_providers``, ``govsvc_delivery_providers``,
``govsvc_calendars``, ``govsvc_event_listeners``) are called once when the platform opens;
each returns a list of frozen objects, which the platform type-checks and de-duplicates (a
hook that returns ``None`` instead of a list is an error naming the plugin). The broadcast
hook ``govsvc_case_event`` is called for every case event after its transaction commits.
``govsvc_policy`` (first result wins) replaces or wraps the authorization policy.
E-certificates: ``govsvc_signers`` gives departments' signing keys, ``govsvc_certificate_face``
(first result wins) maps a result to a certificate's face fields, ``govsvc_certificate_event``
is broadcast after every committed certificate event.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from govsvc.adapters import (
        DeliveryProvider,
        Department,
        IdentityProvider,
        IssuedResult,
        ItemBundle,
        PaymentProvider,
    )
    from govsvc.calendar import CalendarData
    from govsvc.cases import Case, CaseEvent
    from govsvc.ecert import Certificate, CertificateEvent, CertificateType, DepartmentSigner
    from govsvc.events import EventListener
    from govsvc.policy import Policy

PROJECT = "govsvc"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def govsvc_departments() -> Sequence[Department]:
    """Departments (部门) this plugin connects, each with the adapter to its legacy system.

    Call mode: all implementations; the results are concatenated. Two plugins declaring the
    same department code (credit code) fail at start-up naming both distributions.

    Returns:
        a list of :class:`govsvc.Department`.

    Example::

        from govsvc import Department, hookimpl

        @hookimpl
        def govsvc_departments():
            return [
                Department(
                    code="11230100013114525L",
                    name="哈尔滨市市场监督管理局",
                    division="230100",
                    adapter=MarketAdapter(base_url="http://127.0.0.1:8101"),
                    authoritative_for=("enterprise_name", "legal_representative"),
                )
            ]
    """
    raise NotImplementedError  # pragma: no cover - a spec has no body


@hookspec
def govsvc_service_items() -> Sequence[ItemBundle]:
    """Service items (事项) with their guide versions, published when the platform opens.

    Call mode: all implementations; concatenated. A version already published is skipped,
    a newer one is published (and checked: a bad guide fails start-up with every violation).

    Returns:
        a list of :class:`govsvc.ItemBundle` (an item and its versions, oldest first).

    Example::

        from govsvc import ItemBundle, hookimpl, import_json

        @hookimpl
        def govsvc_service_items():
            text = files("my_plugin").joinpath("items.json").read_text("utf-8")
            return [ItemBundle(item, tuple(versions)) for item, versions in import_json(text)]
    """
    raise NotImplementedError  # pragma: no cover


@hookspec
def govsvc_identity_providers() -> Sequence[IdentityProvider]:
    """Login providers (统一身份认证) that turn a token into a verified one-number key.

    Call mode: all implementations; concatenated; names must be unique.

    Returns:
        a list of :class:`govsvc.IdentityProvider`.

    Example::

        from govsvc import IdentityProvider, PartyKey, hookimpl

        @hookimpl
        def govsvc_identity_providers():
            return [IdentityProvider(name="hljzwfw", label="黑龙江政务服务网",
                                     verify=lambda token: PartyKey.of(lookup(token)))]
    """
    raise NotImplementedError  # pragma: no cover


@hookspec
def govsvc_payment_providers() -> Sequence[PaymentProvider]:
    """Fee payment channels (非税支付) for items that charge fees.

    Call mode: all implementations; concatenated; names must be unique.

    Returns:
        a list of :class:`govsvc.PaymentProvider`.

    Example::

        from govsvc import PaymentProvider, hookimpl

        @hookimpl
        def govsvc_payment_providers():
            return [PaymentProvider(name="nontax", label="非税收入统一缴款",
                                    create_payment=lambda case_id, amount: f"PAY-{case_id}")]
    """
    raise NotImplementedError  # pragma: no cover


@hookspec
def govsvc_delivery_providers() -> Sequence[DeliveryProvider]:
    """Result delivery channels (送达), e.g. EMS for posted certificates.

    Call mode: all implementations; concatenated; names must be unique.

    Returns:
        a list of :class:`govsvc.DeliveryProvider`.

    Example::

        from govsvc import DeliveryProvider, hookimpl

        @hookimpl
        def govsvc_delivery_providers():
            return [DeliveryProvider(name="ems", label="EMS 邮寄",
                                     ship=lambda case_id, address: f"EMS{case_id[:10]}")]
    """
    raise NotImplementedError  # pragma: no cover


@hookspec
def govsvc_calendars() -> Sequence[CalendarData]:
    """Working-day data: new official years (national) or regional overlays (e.g. CN-65).

    Call mode: all implementations; national years are added to the platform's calendar,
    an overlay for the platform's region is applied on top.

    Returns:
        a list of :class:`govsvc.CalendarData`.

    Example::

        from govsvc import CalendarData, hookimpl

        @hookimpl
        def govsvc_calendars():
            return [CalendarData.parse(files("my_plugin").joinpath("cn-65.json").read_bytes())]
    """
    raise NotImplementedError  # pragma: no cover


@hookspec
def govsvc_case_event(event: CaseEvent, case: Case) -> None:
    """A case event was committed (broadcast): SMS notices, data warehouse, open data.

    Call mode: every implementation, after the command's transaction commits. A listener
    that raises is logged and does not affect the case or the other listeners.

    Args:
        event: the :class:`govsvc.CaseEvent` just recorded.
        case: the :class:`govsvc.Case` after the command.

    Example::

        from govsvc import hookimpl

        @hookimpl
        def govsvc_case_event(event, case):
            if event.kind == "approved":
                sms.send(case.applicant.number, f"您的办件{case.tracking_code}已准予许可")
    """


@hookspec
def govsvc_event_listeners() -> Sequence[EventListener]:
    """Listeners for chosen kinds of case events (notifications, statistics, open data).

    Call mode: all implementations; concatenated. Each listener is called after the command's
    transaction commits, for the event kinds it names (every kind when it names none); a
    listener that raises is logged and affects nothing else.

    Returns:
        a list of :class:`govsvc.EventListener`.

    Example::

        from govsvc import EventKind, EventListener, hookimpl

        def notify(event, case):
            sms.send(case.applicant.number, f"您的办件{case.tracking_code}已准予许可")

        @hookimpl
        def govsvc_event_listeners():
            return [EventListener(name="sms", kinds={EventKind.APPROVED}, handle=notify)]
    """
    raise NotImplementedError  # pragma: no cover


@hookspec(firstresult=True)
def govsvc_policy(default: Policy) -> Policy | None:
    """The authorization policy: tighten or extend the default rules (one place decides).

    Call mode: first result wins (plugins registered later are asked first); returning
    ``None`` keeps ``default``. ``Platform.open(policy=...)`` overrides any plugin.

    Args:
        default: the :class:`govsvc.DefaultPolicy` the platform would use.

    Returns:
        an object with ``allowed(principal, action, resource) -> Decision``, or None.

    Example::

        from govsvc import Action, Decision, hookimpl

        class NoWeekendDecisions:
            def __init__(self, inner):
                self.inner = inner

            def allowed(self, principal, action, resource):
                if action is Action.REVIEW_DECIDE and is_weekend():
                    return Decision.deny("province.weekend", "decisions wait for Monday")
                return self.inner.allowed(principal, action, resource)

        @hookimpl
        def govsvc_policy(default):
            return NoWeekendDecisions(default)
    """


@hookspec
def govsvc_signers() -> Sequence[DepartmentSigner]:
    """Signing keys of issuing departments for e-certificates (电子证照签章).

    Call mode: all implementations; concatenated, added to the platform's key ring when it
    opens. Private keys come from files or an HSM/KMS (``govsvc.ecert.RemoteSigner``), never
    from the database. A key with ``retired_at`` only verifies what it signed before.

    Returns:
        a list of :class:`govsvc.DepartmentSigner`.

    Example::

        from govsvc import DepartmentSigner, hookimpl
        from govsvc.ecert import Ed25519Signer

        @hookimpl
        def govsvc_signers():
            pem = Path("/etc/govsvc/keys/samr-2026.pem").read_bytes()
            return [DepartmentSigner(issuer="11230100013114525L",
                                     signer=Ed25519Signer.from_pem(pem, "samr-2026"))]
    """
    raise NotImplementedError  # pragma: no cover


@hookspec(firstresult=True)
def govsvc_certificate_face(
    certificate_type: CertificateType, result: IssuedResult, case: Case
) -> Mapping[str, Any] | None:
    """The face fields (照面信息) of the certificate a department's result becomes.

    Call mode: first result wins; returning ``None`` lets the platform find the type's fields
    in ``result.data`` by key, snake_case key or printed Chinese label. A plugin whose legacy
    system words its results differently maps them here.

    Example::

        @hookimpl
        def govsvc_certificate_face(certificate_type, result, case):
            if certificate_type.code != "1110000071783888XL001":
                return None
            return {"name": result.data["holder_name"], "cardNumber": result.number, ...}
    """


@hookspec
def govsvc_certificate_event(event: CertificateEvent, certificate: Certificate) -> None:
    """A certificate event was committed (broadcast): issued, suspended, resumed, revoked,
    cancelled, expired, superseded, and ``reminded`` 30 days before it ends (主动服务).

    Call mode: every implementation, after the transaction commits. A listener that raises
    is logged and affects nothing.

    Example::

        @hookimpl
        def govsvc_certificate_event(event, certificate):
            if event.kind.value == "reminded":
                sms.send(certificate.holder.number, f"您的{certificate.name}将于"
                         f"{certificate.valid_until}到期，请及时办理延续")
    """
