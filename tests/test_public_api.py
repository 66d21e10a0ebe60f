"""The public surface is a promise: this test locks it (as httpx's test_exported_members).

Adding a name is a decision; removing one breaks integrators. Change this list on purpose.
"""

from __future__ import annotations

import govsvc

EXPECTED = [
    "AdapterError",
    "AdapterProtocolError",
    "AdapterUnavailable",
    "Agency",
    "CalendarData",
    "CalendarDataMissing",
    "CallPolicy",
    "Case",
    "CaseDeadline",
    "CaseDecision",
    "CaseEvent",
    "CaseKind",
    "CaseLights",
    "CaseNotFound",
    "CaseResult",
    "CaseState",
    "CaseSummary",
    "Catalogue",
    "CatalogueCode",
    "CatalogueRejected",
    "CertificateRecord",
    "ChainReport",
    "Channel",
    "CitizenId",
    "Commitment",
    "ConcurrentUpdate",
    "CreditCode",
    "CrossRegion",
    "DeliveryProvider",
    "DeliveryReport",
    "Department",
    "Disagreement",
    "Division",
    "DivisionLevel",
    "DivisionRegistry",
    "DocumentType",
    "DueDate",
    "ExerciseLevel",
    "Extension",
    "Fee",
    "FeeInfo",
    "Finding",
    "GovsvcError",
    "HolderCertificates",
    "IdentityProvider",
    "ImplementationCode",
    "ImportFileError",
    "InvalidDivision",
    "InvalidIdentifier",
    "InvalidInput",
    "InvalidTransition",
    "IssuedResult",
    "ItemBundle",
    "ItemType",
    "ItemVersion",
    "LegalBasis",
    "Light",
    "LightThresholds",
    "Material",
    "MaterialKind",
    "MaterialNotAllowed",
    "MaterialSource",
    "Medium",
    "Necessity",
    "NotFound",
    "Notice",
    "NoticeItem",
    "OnlineDepth",
    "Organisation",
    "OutboxEntry",
    "OutboxMessage",
    "Party",
    "PartyKey",
    "PaymentProvider",
    "Person",
    "Platform",
    "PluginError",
    "PollReport",
    "PrereviewRequest",
    "ProcessStep",
    "Profile",
    "ProfileAttribute",
    "ProvidedMaterial",
    "ResultSpec",
    "ReviewOutcome",
    "ReviewRequest",
    "ReviewStage",
    "ReviewTask",
    "ReviewTicket",
    "ServiceItem",
    "ServiceTarget",
    "StructureError",
    "Suspension",
    "SuspensionReason",
    "TaskStatus",
    "TaskView",
    "TimeLimit",
    "TimeUnit",
    "ToleratedMaterial",
    "TrackingCode",
    "UnknownItem",
    "WorkCalendar",
    "check_version",
    "due_date",
    "export_csv",
    "export_json",
    "hookimpl",
    "import_csv",
    "import_json",
    "parse_identifier",
    "__version__",
]


def test_exported_names_are_locked() -> None:
    assert sorted(govsvc.__all__) == sorted(EXPECTED)


def test_every_exported_name_exists_and_is_documented() -> None:
    for name in govsvc.__all__:
        obj = getattr(govsvc, name)
        if name.startswith("__") or not callable(obj):
            continue
        assert (obj.__doc__ or "").strip(), f"govsvc.{name} has no docstring"


def test_errors_form_one_hierarchy() -> None:
    errors = [
        getattr(govsvc, n)
        for n in govsvc.__all__
        if isinstance(getattr(govsvc, n), type) and issubclass(getattr(govsvc, n), BaseException)
    ]
    assert errors and all(issubclass(e, govsvc.GovsvcError) for e in errors)
    assert issubclass(govsvc.InvalidIdentifier, ValueError)
    assert issubclass(govsvc.CaseNotFound, LookupError)
