"""One-number profile (一数一源): what departments hold about a party, merged by authority.

Each attribute carries the department it came from and when. Where departments disagree the
attribute's authoritative department wins and the disagreement is reported; a department
that was down makes its attributes *unavailable*, never the whole profile fail.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from govsvc.identity import PartyKey

__all__ = ["Disagreement", "Profile", "ProfileAttribute", "merge_profiles"]


@attrs.frozen(kw_only=True)
class ProfileAttribute:
    """One attribute's value with its source department and the time it was read."""

    value: Any
    source: str  # department credit code
    source_name: str
    at: dt.datetime
    authoritative: bool


@attrs.frozen(kw_only=True)
class Disagreement:
    """Departments hold different values for one attribute; ``chosen`` is the one used."""

    attribute: str
    values: Mapping[str, Any]  # department code -> value
    chosen: str  # department code whose value won


@attrs.frozen(kw_only=True)
class Profile:
    """A party as the departments know it (一数一源), with provenance for every attribute."""

    key: PartyKey
    purpose: str
    attributes: Mapping[str, ProfileAttribute]
    disagreements: tuple[Disagreement, ...] = ()
    unavailable: Mapping[str, str] = attrs.field(factory=dict)  # department -> reason
    unavailable_attributes: tuple[str, ...] = ()  # authoritative source down, no other value

    def __getitem__(self, name: str) -> Any:
        return self.attributes[name].value

    def get(self, name: str, default: Any = None) -> Any:
        found = self.attributes.get(name)
        return default if found is None else found.value


def merge_profiles(
    key: PartyKey,
    purpose: str,
    answers: Sequence[tuple[str, str, dt.datetime, Mapping[str, Any] | None]],
    failures: Mapping[str, str],
    authorities: Mapping[str, str],
) -> Profile:
    """Merge department answers ``(code, name, at, attributes)`` under ``authorities``.

    ``authorities`` maps attribute → authoritative department code. For an attribute without
    an authority (or whose authority did not answer it), the first department in ``answers``
    order that has it is used, marked not authoritative.
    """
    seen: dict[str, dict[str, tuple[str, dt.datetime, Any]]] = {}
    for code, name, at, attributes in answers:
        for attribute, value in (attributes or {}).items():
            if value is None or value == "":
                continue
            seen.setdefault(attribute, {})[code] = (name, at, value)
    merged: dict[str, ProfileAttribute] = {}
    disagreements: list[Disagreement] = []
    for attribute, by_department in seen.items():
        authority = authorities.get(attribute)
        chosen = authority if authority in by_department else next(iter(by_department))
        name, at, value = by_department[chosen]
        merged[attribute] = ProfileAttribute(
            value=value,
            source=chosen,
            source_name=name,
            at=at,
            authoritative=chosen == authority,
        )
        distinct = {_comparable(v) for _, _, v in by_department.values()}
        if len(distinct) > 1:
            disagreements.append(
                Disagreement(
                    attribute=attribute,
                    values={code: v for code, (_, _, v) in by_department.items()},
                    chosen=chosen,
                )
            )
    missing = tuple(
        sorted(
            attribute
            for attribute, authority in authorities.items()
            if authority in failures and attribute not in merged
        )
    )
    return Profile(
        key=key,
        purpose=purpose,
        attributes=merged,
        disagreements=tuple(sorted(disagreements, key=lambda d: d.attribute)),
        unavailable=dict(failures),
        unavailable_attributes=missing,
    )


def _comparable(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else repr(value)
