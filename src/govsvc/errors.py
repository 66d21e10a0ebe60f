"""Every error govsvc raises, in one hierarchy.

An integrator catches :class:`GovsvcError` to catch everything the SDK raises on purpose;
the subclasses say what went wrong and every message says what to do about it. Errors that
describe bad input are also :class:`ValueError` (or :class:`LookupError` for things not
found), so code written against the standard library keeps working::

    GovsvcError
    ├── InvalidInput (ValueError)          bad data from a caller, a file or a form
    │   ├── InvalidIdentifier              citizen ID / credit code / tracking code fails a rule
    │   ├── InvalidDivision                division code or hierarchy is wrong
    │   ├── CatalogueRejected              a service item version breaks the rules of GB/T 39046
    │   ├── MaterialNotAllowed             material not listed in the pinned item version
    │   ├── ImportFileError                malformed import file (names line and field)
    │   └── StructureError                 a payload does not fit the domain type (names the path)
    ├── NotFound (LookupError)
    │   ├── UnknownItem                    no service item / version with that code
    │   ├── CaseNotFound                   no case with that id or tracking code
    │   ├── CertificateNotFound            no e-certificate with that identifier
    │   └── UnknownKey                     no signing key with that id (or none for a department)
    ├── PermissionDenied                   the policy refused the principal this action
    ├── InvalidTransition                  command not allowed in a case's or certificate's state
    ├── SigningError                       a key cannot sign (remote signer failed, bad signature)
    │   └── KeyRetired                     the key was retired or revoked: it signs nothing
    ├── StatusListFull                     every index of a status list is used; open the next
    ├── FontMissing                        a printable PDF needs a CJK font this machine lacks
    ├── ConcurrentUpdate                   someone else changed the case first; reload and retry
    ├── CalendarDataMissing                no official working-day data for a year
    ├── PluginError                        a plugin is malformed (names plugin and hook)
    └── AdapterError                       a department's legacy system misbehaved
        ├── AdapterUnavailable             timeout, refused connection, 5xx, open circuit
        └── AdapterProtocolError           malformed answer (carries the field path)

A command that raises leaves the stored state exactly as it was.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence


class GovsvcError(Exception):
    """Base class of every error the SDK raises on purpose."""


class InvalidInput(GovsvcError, ValueError):
    """Bad data from a caller, a form or a file. Nothing was stored."""


class InvalidIdentifier(InvalidInput):
    """A citizen ID, credit code or tracking code breaks a rule of its standard.

    The message names the rule that failed and, for a check character, the expected one.
    """


class InvalidDivision(InvalidInput):
    """A division code is malformed, unknown, or its parent does not fit."""


class CatalogueRejected(InvalidInput):
    """A service item version breaks the consistency rules; ``violations`` lists every one."""

    def __init__(self, violations: Sequence[str], *, what: str = "item version") -> None:
        self.violations: tuple[str, ...] = tuple(violations)
        lines = "\n".join(f"  - {v}" for v in self.violations)
        super().__init__(
            f"{what} cannot be published; fix these {len(self.violations)} problem(s):\n{lines}"
        )


class MaterialNotAllowed(InvalidInput):
    """A material was given that the case's pinned item version does not list."""


class ImportFileError(InvalidInput):
    """An import file is malformed. ``line`` and ``field`` say where."""

    def __init__(self, message: str, *, source: str, line: int | None, field: str | None) -> None:
        self.source = source
        self.line = line
        self.field = field
        where = source
        if line is not None:
            where += f", line {line}"
        if field is not None:
            where += f", field {field!r}"
        super().__init__(f"{where}: {message}")


class StructureError(InvalidInput):
    """A payload does not fit a domain type; ``problems`` lists ``description @ path`` strings."""

    def __init__(self, what: str, problems: Iterable[str]) -> None:
        self.problems: tuple[str, ...] = tuple(problems)
        details = "; ".join(self.problems)
        super().__init__(f"invalid {what}: {details}")


class NotFound(GovsvcError, LookupError):
    """Something looked up does not exist."""


class UnknownItem(NotFound):
    """No service item (or no published version of it) with that code."""


class CaseNotFound(NotFound):
    """No case with that id or tracking code."""


class CertificateNotFound(NotFound):
    """No e-certificate with that identifier on this platform."""


class PermissionDenied(GovsvcError):
    """The policy refused a principal an action; nothing was changed and the attempt is in the
    access log. ``principal``, ``action`` and ``rule`` say who, what and which rule refused."""

    def __init__(self, message: str, *, principal: str, action: str, rule: str) -> None:
        self.principal = principal
        self.action = action
        self.rule = rule
        super().__init__(message)


class UnknownKey(NotFound):
    """No signing key with that key id, or no current key for a department."""


class InvalidTransition(GovsvcError):
    """A command is not allowed in the current state; the message lists allowed moves.

    ``what`` names the thing in that state: ``"case"`` (the default) or ``"certificate"``.
    """

    def __init__(
        self, state: str, command: str, allowed: Iterable[str], *, what: str = "case"
    ) -> None:
        self.state = state
        self.command = command
        self.what = what
        self.allowed: tuple[str, ...] = tuple(sorted(allowed))
        moves = ", ".join(self.allowed) if self.allowed else f"none (the {what} is closed)"
        super().__init__(
            f"cannot {command} a {what} that is {state}; allowed in this state: {moves}"
        )


class SigningError(GovsvcError):
    """A key could not sign: a remote signer (HSM/KMS) failed or returned a bad signature."""


class KeyRetired(SigningError):
    """The key was retired (or revoked): it still verifies old signatures but signs nothing.

    Sign with the department's current key (``KeyRing.signer_for``) instead.
    """


class StatusListFull(GovsvcError):
    """Every index of a status list is in use; new certificates go to the next list."""


class FontMissing(GovsvcError):
    """A printable PDF needs a CJK font and none was found; the message says what to install."""


class ConcurrentUpdate(GovsvcError):
    """Another command changed the case first. Reload the case and decide again."""


class IdempotencyConflict(InvalidInput):
    """An idempotency key (a channel's request id) came back with a different request.

    The same key with the same request returns what the first request created; a changed
    request under a used key is refused, since it is either a bug in the channel or a
    second application that needs a key of its own. ``case_id`` is what the key created.
    """

    def __init__(self, message: str, *, case_id: str) -> None:
        self.case_id = case_id
        super().__init__(message)


class CalendarDataMissing(GovsvcError):
    """No working-day data for a year; the message says how to load it."""

    def __init__(self, year: int, message: str | None = None) -> None:
        self.year = year
        super().__init__(
            message
            or (
                f"no official working-day calendar for {year}: load the State Council's "
                f"arrangement with `govsvc calendar load FILE` (see docs: calendar), "
                f"or open the platform with provisional_calendar=True to compute "
                f"provisional deadlines by rule"
            )
        )


class PluginError(GovsvcError):
    """A plugin is malformed: a misnamed or unknown hook, a wrong return type, a duplicate."""


class AdapterError(GovsvcError):
    """A department's legacy system did not answer as its adapter expects."""

    def __init__(self, message: str, *, department: str = "", operation: str = "") -> None:
        self.department = department
        self.operation = operation
        super().__init__(message)


class AdapterUnavailable(AdapterError):
    """The legacy system timed out, refused the connection, failed, or its circuit is open."""


class AdapterProtocolError(AdapterError):
    """The legacy system answered with a malformed body; ``path`` names the bad field."""

    def __init__(
        self, message: str, *, path: str = "$", department: str = "", operation: str = ""
    ) -> None:
        self.path = path
        super().__init__(f"{message} @ {path}", department=department, operation=operation)
