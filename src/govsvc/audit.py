"""Accountability records: who read whose personal data, why, and who was refused.

Every read of another party's personal data (a one-number profile, a case's form and
materials, certificates, a party record) and every refused attempt is written to the access
log — a hash-chained log beside the exchange log — with the principal, the action, whose data
it was, the purpose of use (用证事由) and the time. :class:`DataUseEntry` is what a citizen's
"who used my data" page (我的数据使用记录) lists: both access records and the platform's
exchanges with departments about them.
"""

from __future__ import annotations

import datetime as dt

import attrs

from govsvc.principals import Actor

__all__ = ["AccessRecord", "DataUseEntry"]


@attrs.frozen(kw_only=True)
class AccessRecord:
    """One entry of the access log: a read of personal data, or a refused attempt."""

    at: dt.datetime
    actor: Actor
    action: str  # an Action value, e.g. "cases.read"
    outcome: str  # "read" or "denied"
    rule: str  # the policy rule that decided
    subject: str | None = None  # whose data, as "111:2301…" (document type + number)
    case_id: str | None = None
    purpose: str = ""
    detail: str = ""
    seq: int | None = None  # its place in the log, once written


@attrs.frozen(kw_only=True)
class DataUseEntry:
    """One use of a party's data, for the party to see (我的数据使用记录)."""

    at: dt.datetime
    source: str  # "access" (someone read it here) or "exchange" (asked from a department)
    who: str  # the principal's role and name, or the department's name
    agency: str | None  # the credit code of whoever used it
    action: str  # what was done: an Action value or an adapter operation
    purpose: str
    case_id: str | None = None
    outcome: str = ""
