"""The host's configuration: one TOML file, read with :mod:`tomllib`, checked when it loads.

Every field has a default that suits the demo on one machine; a city overrides what differs.
The reference of every key is in ``docs/host.md`` ("Configuration"). A wrong value fails at
start with :class:`SettingsError` naming the key, never at somebody's first request.
"""

from __future__ import annotations

import os
import secrets
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from govsvc import InvalidInput

__all__ = [
    "ApiToken",
    "IdentitySettings",
    "Settings",
    "SettingsError",
    "UploadSettings",
    "WorkerSettings",
]


class SettingsError(InvalidInput):
    """A configuration value is wrong; the message names the key and what to put there."""


@attrs.frozen(kw_only=True)
class IdentitySettings:
    """The unified identity platform (统一身份认证) the host logs people in with (OIDC)."""

    issuer: str = "http://localhost:8180"
    client_id: str = "govsvc-host"
    client_secret: str | None = "demo-secret-govsvc-host"
    name: str = "hrb-idp"
    label: str = "哈尔滨市统一身份认证平台"
    api_audience: str = "govsvc-api"


@attrs.frozen(kw_only=True)
class UploadSettings:
    """Limits on scanned materials: size and the content types accepted (checked by content)."""

    max_bytes: int = 10 * 1024 * 1024
    # Content types the host accepts at all; a material's guide narrows them further.
    allowed: tuple[str, ...] = ("pdf", "jpg", "png")


@attrs.frozen(kw_only=True)
class WorkerSettings:
    """Background work: ``auto`` runs procrastinate on PostgreSQL and a thread on SQLite."""

    mode: str = "auto"  # auto | procrastinate | thread | off
    interval: float = 2.0  # seconds between passes of the in-process thread
    procrastinate_schema: str = "procrastinate"


@attrs.frozen(kw_only=True)
class ApiToken:
    """A hashed API token for a machine caller (a kiosk, a department system without OIDC).

    ``hash`` is ``sha256:<hex>`` of the token; ``role`` is ``channel`` (with ``scopes``) or
    ``department_system`` (with ``department``).
    """

    name: str
    hash: str
    role: str
    department: str = ""
    scopes: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class Settings:
    """Everything the host needs to start (see ``docs/host.md`` for each key)."""

    database_url: str = "sqlite:///govsvc-host.db"
    database_schema: str | None = None
    base_url: str = "http://127.0.0.1:8000"
    session_secret: str = attrs.field(factory=lambda: secrets.token_urlsafe(32))
    # Secure cookies: on whenever the base URL is https (behind a TLS proxy), or forced.
    cookie_secure: bool | None = None
    session_idle_minutes: int = 30
    language: str = "zh_Hans"
    provisional_calendar: bool = True
    calendar_region: str | None = None
    materials_dir: Path = Path("materials")
    # The departments' e-certificate signing keys: a key configuration file (PEM/JWK paths,
    # govsvc.ecert.load_key_config); None: no keys, certificates wait in certificates.pending.
    ecert_keys: Path | None = None
    identity: IdentitySettings = attrs.field(factory=IdentitySettings)
    uploads: UploadSettings = attrs.field(factory=UploadSettings)
    worker: WorkerSettings = attrs.field(factory=WorkerSettings)
    api_tokens: tuple[ApiToken, ...] = ()
    # Environment variables for the department plugins (GOVSVC_SAMR_URL, …), by plugin.
    departments: Mapping[str, Mapping[str, str]] = attrs.field(factory=dict)
    # Login, one-time codes and public look-ups: attempts per minute per client address.
    rate_login: str = "20/minute"
    rate_lookup: str = "30/minute"
    demo: bool = False

    @property
    def secure_cookies(self) -> bool:
        if self.cookie_secure is not None:
            return self.cookie_secure
        return self.base_url.startswith("https://")

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith("postgresql")

    def apply_department_environment(self) -> None:
        """Export the departments' settings as the plugins read them (``GOVSVC_<NAME>_<KEY>``)."""
        for plugin, values in self.departments.items():
            for key, value in values.items():
                os.environ[f"GOVSVC_{plugin.upper()}_{key.upper()}"] = str(value)

    @classmethod
    def load(cls, path: str | Path) -> Settings:
        """Read a TOML file; :class:`SettingsError` names the first wrong key."""
        file = Path(path)
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SettingsError(f"configuration file {file} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"{file} is not valid TOML: {exc}") from None
        return cls.from_dict(data, source=str(file), base=file.parent)

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], *, source: str = "settings", base: Path | None = None
    ) -> Settings:
        known = {f.name for f in attrs.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise SettingsError(
                f"{source}: unknown key(s) {', '.join(unknown)}; the keys are listed in "
                "docs/host.md (Configuration)"
            )
        values: dict[str, Any] = {}
        for key, value in data.items():
            where = f"{source}: {key}"
            if key == "identity":
                values[key] = _section(IdentitySettings, value, where)
            elif key == "uploads":
                section = dict(_table(value, where))
                if "allowed" in section:
                    section["allowed"] = tuple(section["allowed"])
                values[key] = _section(UploadSettings, section, where)
            elif key == "worker":
                values[key] = _section(WorkerSettings, value, where)
            elif key == "api_tokens":
                if not isinstance(value, list):
                    raise SettingsError(f"{where} must be an array of tables ([[api_tokens]])")
                tokens = []
                for n, entry in enumerate(value, 1):
                    entry = dict(_table(entry, f"{where}[{n}]"))
                    entry["scopes"] = tuple(entry.get("scopes", ()))
                    tokens.append(_section(ApiToken, entry, f"{where}[{n}]"))
                values[key] = tuple(tokens)
            elif key == "departments":
                table = _table(value, where)
                values[key] = {
                    name: {k: str(v) for k, v in _table(section, f"{where}.{name}").items()}
                    for name, section in table.items()
                }
            elif key in ("materials_dir", "ecert_keys"):
                path = Path(str(value))
                values[key] = path if path.is_absolute() or base is None else base / path
            else:
                values[key] = value
        try:
            settings = cls(**values)
        except (TypeError, ValueError) as exc:
            raise SettingsError(f"{source}: {exc}") from None
        settings.check(source)
        return settings

    def check(self, source: str = "settings") -> None:
        if not self.database_url.startswith(("sqlite:", "postgresql")):
            raise SettingsError(
                f"{source}: database_url {self.database_url!r} must be sqlite:///FILE or "
                "postgresql+psycopg://user@host/db"
            )
        if len(self.session_secret) < 16:
            raise SettingsError(
                f"{source}: session_secret must be at least 16 characters (make one with "
                "python -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
        if self.uploads.max_bytes <= 0:
            raise SettingsError(f"{source}: uploads.max_bytes must be a positive number")
        if self.worker.mode not in ("auto", "procrastinate", "thread", "off"):
            raise SettingsError(
                f"{source}: worker.mode is {self.worker.mode!r}; use auto, procrastinate, "
                "thread or off"
            )
        if self.worker.mode == "procrastinate" and not self.is_postgres:
            raise SettingsError(
                f"{source}: worker.mode procrastinate needs a PostgreSQL database_url"
            )
        if self.session_idle_minutes <= 0:
            raise SettingsError(f"{source}: session_idle_minutes must be positive")
        for token in self.api_tokens:
            if not token.hash.startswith("sha256:") or len(token.hash) != 71:
                raise SettingsError(
                    f"{source}: api token {token.name!r}: hash must be sha256:<64 hex> (make "
                    "one with govsvc-host users token)"
                )
            if token.role not in ("channel", "department_system"):
                raise SettingsError(
                    f"{source}: api token {token.name!r}: role must be channel or "
                    "department_system"
                )


def _table(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise SettingsError(f"{where} must be a table")
    return value


def _section(cls: type[Any], value: Any, where: str) -> Any:
    table = _table(value, where)
    known = {f.name for f in attrs.fields(cls)}
    unknown = sorted(set(table) - known)
    if unknown:
        raise SettingsError(
            f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    try:
        return cls(**table)
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"{where}: {exc}") from None
