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
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

import attrs

from govsvc.errors import InvalidInput
from govsvc.principals import Actor

__all__ = ["AccessRecord", "Checkpoint", "DataUseEntry", "parse_checkpoint_keys"]


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


LOGS = ("exchange_log", "access_log")
"""The chained logs that get checkpoints."""


@attrs.frozen(kw_only=True)
class Checkpoint:
    """A keyed statement of a chained log's head: "at ``at`` the log ``log`` had ``seq``
    records and the last one's hash was ``head``".

    ``mac`` is HMAC-SHA256 under the operator's checkpoint key ``key_id`` (kept outside the
    database). Someone who can write the database but does not hold the key cannot make a
    checkpoint, so rewriting the chain with the public algorithm, or deleting its last
    records, no longer matches the checkpoints taken before. Exported (:meth:`to_dict`) to a
    witness outside the platform (another department, a notary, a write-once store), the
    checkpoints also survive someone deleting them from the database.
    """

    log: str
    seq: int
    head: str
    at: dt.datetime
    key_id: str
    mac: str = ""

    def message(self) -> bytes:
        """The bytes the MAC covers."""
        at = self.at.astimezone(dt.UTC).isoformat()
        text = f"govsvc-checkpoint/1|{self.log}|{self.seq}|{self.head}|{at}|{self.key_id}"
        return text.encode("utf-8")

    def signed(self, key: bytes) -> Checkpoint:
        """This checkpoint with its MAC under ``key``."""
        return attrs.evolve(self, mac=hmac.new(key, self.message(), hashlib.sha256).hexdigest())

    def valid_under(self, key: bytes) -> bool:
        """True if the MAC is this checkpoint's under ``key`` (compared in constant time)."""
        expected = hmac.new(key, self.message(), hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, self.mac)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form a witness keeps."""
        return {
            "log": self.log,
            "seq": self.seq,
            "head": self.head,
            "at": self.at.astimezone(dt.UTC).isoformat(),
            "key_id": self.key_id,
            "mac": self.mac,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Checkpoint:
        """Read a checkpoint a witness kept; :class:`InvalidInput` names what is wrong."""
        if not isinstance(data, Mapping):
            raise InvalidInput(f"a checkpoint is a JSON object, got {type(data).__name__}")
        missing = [k for k in ("log", "seq", "head", "at", "key_id", "mac") if k not in data]
        if missing:
            raise InvalidInput(f"checkpoint is missing {', '.join(missing)}")
        log, seq = data["log"], data["seq"]
        if log not in LOGS:
            raise InvalidInput(f"checkpoint log must be one of {', '.join(LOGS)}, got {log!r}")
        if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
            raise InvalidInput(f"checkpoint seq must be a whole number ≥ 0, got {seq!r}")
        for name in ("head", "key_id", "mac", "at"):
            if not isinstance(data[name], str):
                raise InvalidInput(f"checkpoint {name} must be text, got {data[name]!r}")
        try:
            at = dt.datetime.fromisoformat(data["at"])
        except ValueError:
            raise InvalidInput(f"checkpoint at is not an ISO 8601 time: {data['at']!r}") from None
        if at.tzinfo is None:
            raise InvalidInput("checkpoint at must carry its UTC offset")
        return cls(
            log=log, seq=seq, head=data["head"], at=at, key_id=data["key_id"], mac=data["mac"]
        )


def parse_checkpoint_keys(text: str) -> dict[str, bytes]:
    """Checkpoint keys from their configuration text: ``id:hex[,id:hex...]``, the signing
    key first (e.g. ``GOVSVC_CHECKPOINT_KEY=k2026:9f2c…,k2025:41aa…``). Make a key with
    ``python -c "import secrets; print(secrets.token_hex(32))"``."""
    keys: dict[str, bytes] = {}
    for n, part in enumerate(p.strip() for p in text.split(",")):
        key_id, sep, secret = part.partition(":")
        if not sep or not key_id:
            raise InvalidInput(
                f"checkpoint key {n + 1} should be id:hex (e.g. k2026:9f2c…), got {part[:12]!r}…"
            )
        try:
            keys[key_id] = bytes.fromhex(secret)
        except ValueError:
            raise InvalidInput(f"checkpoint key {key_id!r} is not hexadecimal") from None
    return keys
