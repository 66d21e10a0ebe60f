"""Finding, validating and registering plugins (pluggy, entry-point group ``govsvc``).

Plugins are validated *before* pluggy sees them — pluggy's ``register`` is not atomic and a
half-registered plugin is worse than a clear error — and their registration hooks are
collected into a :class:`Registry` with every result type-checked and every duplicate
department named with both distributions.

Operator switches:

* ``GOVSVC_LOAD_PLUGINS=samr,psb`` loads only these entry points (empty: none); a name no
  installed distribution declares stops start-up with :class:`PluginError` listing the
  installed ones (a typo would otherwise run the platform without a department);
* ``GOVSVC_TRACE_PLUGINS=1`` logs every hook call and its result (logger ``govsvc.plugins``).

A broken entry point (import error) is logged and skipped: one bad distribution does not
take the platform down. A *malformed* plugin (misnamed or unknown hook, wrong return type,
duplicate department) stops start-up with :class:`PluginError`, because running without a
department the operator installed would silently lose cases. So do two departments that
both declare themselves the source of truth for one profile attribute, unless the operator
settled which one is (:meth:`Registry.authorities`, ``Platform.open(authorities=...)``).
"""

from __future__ import annotations

import difflib
import functools
import inspect
import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from importlib import metadata
from typing import Any, TypeVar

import attrs
import pluggy

from govsvc import _builtin, hookspecs
from govsvc.adapters import (
    DeliveryProvider,
    Department,
    IdentityProvider,
    ItemBundle,
    PaymentProvider,
)
from govsvc.calendar import CalendarData
from govsvc.ecert import DepartmentSigner
from govsvc.errors import InvalidInput, PluginError
from govsvc.events import EventListener

__all__ = ["DEFAULT_PLUGINS", "ENTRY_POINT_GROUP", "PluginManager", "Registry", "load_plugins"]

log = logging.getLogger("govsvc.plugins")

ENTRY_POINT_GROUP = "govsvc"
PREFIX = "govsvc_"
DEFAULT_PLUGINS: tuple[Any, ...] = (_builtin,)
"""Built-in behaviour, registered as ordinary plugins through the same hooks."""

HOOK_NAMES = frozenset(
    name for name, value in vars(hookspecs).items() if name.startswith(PREFIX) and callable(value)
)

T = TypeVar("T")


class PluginManager(pluggy.PluginManager):
    """pluggy's manager with govsvc's rules: the ``govsvc_`` prefix and validation first."""

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT)
        self.add_hookspecs(hookspecs)
        self.distributions: dict[str, str] = {}  # plugin name -> distribution name
        self.tracing = False

    def trace_call(self, hook: str, plugin_name: str, detail: str) -> None:
        """Log a hook call the platform makes per implementation (GOVSVC_TRACE_PLUGINS=1)."""
        if self.tracing:
            log.info("hook %s on %s: %s", hook, plugin_name, detail)

    def parse_hookimpl_opts(self, plugin: object, name: str) -> Any:
        opts = super().parse_hookimpl_opts(plugin, name)
        if opts is None and name.startswith(PREFIX) and name in HOOK_NAMES:
            # Like pytest: a function named after a hook is an implementation even unmarked.
            member = getattr(plugin, name, None)
            if inspect.isroutine(member):
                return {}
        return opts

    def add(self, plugin: object, *, name: str | None = None, distribution: str = "") -> str:
        """Validate and register one plugin object; returns its name."""
        plugin_name = name or self.get_canonical_name(plugin)
        dist = distribution or _distribution_of(plugin)
        validate_plugin(plugin, plugin_name, dist)
        if self.is_registered(plugin) or self.has_plugin(plugin_name):
            raise PluginError(f"plugin {plugin_name!r} ({dist}) is registered twice")
        try:
            registered = self.register(plugin, name=plugin_name)
        except pluggy.PluginValidationError as exc:
            raise PluginError(f"plugin {plugin_name!r} ({dist}): {exc}") from exc
        self.distributions[plugin_name] = dist
        return registered or plugin_name

    def distribution(self, plugin_name: str) -> str:
        return self.distributions.get(plugin_name, "unknown distribution")


@functools.cache
def _packages_distributions() -> Mapping[str, list[str]]:
    # Scanning every installed distribution takes ~0.5 s; the answer does not change while
    # the process runs.
    return metadata.packages_distributions()


@functools.cache
def _entry_point_distributions() -> Mapping[str, str]:
    # Editable installs often hide their packages from packages_distributions(); the entry
    # points still name the module and the distribution declaring it.
    return {
        ep.module: ep.dist.name
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)
        if ep.dist is not None
    }


def _distribution_of(plugin: object) -> str:
    module = inspect.getmodule(plugin) if not inspect.ismodule(plugin) else plugin
    name = getattr(module, "__name__", "") or ""
    top = name.split(".")[0]
    if not top:
        return "unknown distribution"
    names = _packages_distributions().get(top)
    if names:
        return names[0]
    return _entry_point_distributions().get(name) or f"{top} (not installed)"


def validate_plugin(plugin: object, name: str, distribution: str) -> None:
    """Refuse a plugin whose hook names are wrong, before pluggy registers anything.

    * a function marked ``@hookimpl`` whose name lacks the ``govsvc_`` prefix;
    * a ``govsvc_*`` function the spec does not know (a typo: ``govsvc_departmnets``);
    * an implementation asking for arguments its hook does not pass.
    """
    who = f"plugin {name!r} ({distribution})"
    for attr in dir(plugin):
        if attr.startswith("__"):
            continue
        try:
            member = getattr(plugin, attr)
        except Exception:  # a property that fails is not a hook
            continue
        marked = hasattr(member, f"{hookspecs.PROJECT}_impl")
        if marked and not attr.startswith(PREFIX):
            raise PluginError(
                f"{who} marks {attr!r} with @hookimpl, but govsvc hooks are named "
                f"'govsvc_…'; rename it to one of: {', '.join(sorted(HOOK_NAMES))}"
            )
        if not attr.startswith(PREFIX) or not inspect.isroutine(member):
            continue
        if attr not in HOOK_NAMES:
            close = difflib.get_close_matches(attr, sorted(HOOK_NAMES), n=1)
            hint = f"did you mean {close[0]!r}?" if close else "see govsvc.hookspecs"
            raise PluginError(f"{who} implements unknown hook {attr!r}; {hint}")
        spec_args = set(inspect.signature(getattr(hookspecs, attr)).parameters)
        impl_args = {
            p.name
            for p in inspect.signature(member).parameters.values()
            if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name != "self"
        }
        extra = impl_args - spec_args
        if extra:
            raise PluginError(
                f"{who} hook {attr!r} asks for {sorted(extra)}, which the hook does not pass; "
                f"it may take only {sorted(spec_args) or 'no arguments'}"
            )


def load_plugins(
    extra: Sequence[object] = (),
    *,
    environ: Mapping[str, str] | None = None,
    entry_points: bool = True,
) -> PluginManager:
    """A plugin manager with the built-in plugins, installed entry points and ``extra``."""
    env = os.environ if environ is None else environ
    pm = PluginManager()
    for builtin in DEFAULT_PLUGINS:
        pm.add(builtin, name=f"govsvc.{builtin.__name__.rsplit('.', 1)[-1]}", distribution="govsvc")
    if entry_points:
        installed = metadata.entry_points(group=ENTRY_POINT_GROUP)
        allow = env.get("GOVSVC_LOAD_PLUGINS")
        wanted = None if allow is None else {n.strip() for n in allow.split(",") if n.strip()}
        if wanted is not None:
            _check_allow_list(wanted, sorted({ep.name for ep in installed}))
        for ep in installed:
            if wanted is not None and ep.name not in wanted:
                continue
            dist = ep.dist.name if ep.dist else "unknown distribution"
            try:
                plugin = ep.load()
            except Exception:
                log.exception("skipping broken govsvc plugin entry point %r (%s)", ep.name, dist)
                continue
            pm.add(plugin, name=ep.name, distribution=dist)
    for plugin in extra:
        pm.add(plugin)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(str(exc)) from exc
    if env.get("GOVSVC_TRACE_PLUGINS") == "1":
        _trace(pm)
    return pm


def _check_allow_list(wanted: Iterable[str], installed: Sequence[str]) -> None:
    """Every name in GOVSVC_LOAD_PLUGINS is an installed entry point: a misspelt name would
    otherwise start the platform without the department the operator meant to load."""
    missing = sorted(set(wanted) - set(installed))
    if not missing:
        return
    hints = []
    for name in missing:
        close = difflib.get_close_matches(name, installed, n=1)
        hints.append(f"{name!r} (did you mean {close[0]!r}?)" if close else repr(name))
    verb = "is" if len(missing) == 1 else "are"
    raise PluginError(
        f"GOVSVC_LOAD_PLUGINS names {', '.join(hints)}, which {verb} not installed in the "
        f"'{ENTRY_POINT_GROUP}' entry-point group; installed: {', '.join(installed) or 'none'}. "
        f"Install the plugin's distribution (pip install …) or remove the name from "
        f"GOVSVC_LOAD_PLUGINS"
    )


def _trace(pm: PluginManager) -> None:
    def before(hook_name: str, impls: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
        log.info(
            "hook %s called with %s on %s", hook_name, dict(kwargs), [i.plugin_name for i in impls]
        )

    def after(
        outcome: Any, hook_name: str, impls: Sequence[Any], kwargs: Mapping[str, Any]
    ) -> None:
        log.info("hook %s returned %r", hook_name, outcome.get_result())

    pm.add_hookcall_monitoring(before, after)
    pm.tracing = True  # calls made one implementation at a time log through trace_call


@attrs.frozen
class Registry:
    """What the plugins registered, checked: departments by code, providers by name.

    ``department_sources`` names, for each department code, the plugin that registered it
    and its distribution (``plugin 'example' (govsvc-example)``), for error messages.
    """

    departments: Mapping[str, Department]
    items: tuple[ItemBundle, ...]
    identity_providers: Mapping[str, IdentityProvider]
    payment_providers: Mapping[str, PaymentProvider]
    delivery_providers: Mapping[str, DeliveryProvider]
    calendars: tuple[CalendarData, ...]
    event_listeners: tuple[EventListener, ...] = ()
    signers: tuple[DepartmentSigner, ...] = ()  # e-certificate signing keys (govsvc_signers)
    department_sources: Mapping[str, str] = attrs.field(factory=dict)

    @classmethod
    def collect(cls, pm: PluginManager) -> Registry:
        owners: dict[str, str] = {}
        departments = _keyed(
            pm, "govsvc_departments", Department, lambda d: d.code, "department", owners
        )
        return cls(
            departments=departments,
            department_sources={
                code: f"plugin {name!r} ({pm.distribution(name)})" for code, name in owners.items()
            },
            items=tuple(r for _, r in _results(pm, "govsvc_service_items", ItemBundle)),
            identity_providers=_keyed(
                pm,
                "govsvc_identity_providers",
                IdentityProvider,
                lambda p: p.name,
                "identity provider",
            ),
            payment_providers=_keyed(
                pm,
                "govsvc_payment_providers",
                PaymentProvider,
                lambda p: p.name,
                "payment provider",
            ),
            delivery_providers=_keyed(
                pm,
                "govsvc_delivery_providers",
                DeliveryProvider,
                lambda p: p.name,
                "delivery provider",
            ),
            calendars=tuple(r for _, r in _results(pm, "govsvc_calendars", CalendarData)),
            event_listeners=tuple(
                r for _, r in _results(pm, "govsvc_event_listeners", EventListener)
            ),
            signers=tuple(r for _, r in _results(pm, "govsvc_signers", DepartmentSigner)),
        )

    def authorities(self, priorities: Mapping[str, str] | None = None) -> dict[str, str]:
        """Profile attribute → code of the department that is its source of truth (一数一源).

        Departments declare what they are authoritative for (``Department.authoritative_for``);
        ``priorities`` (``Platform.open(authorities=...)``) maps an attribute to the department
        code that wins it, settling an attribute several departments declare and overriding a
        single declaration. Two departments declaring one attribute without a priority for it
        raise :class:`PluginError` naming both departments and their plugins: merging would
        otherwise pick one by registration order. A priority naming a department no plugin
        registered raises :class:`InvalidInput`.
        """
        chosen = {attribute: code.strip().upper() for attribute, code in (priorities or {}).items()}
        for attribute, code in chosen.items():
            if code not in self.departments:
                registered = ", ".join(self._named(c) for c in self.departments) or "none"
                raise InvalidInput(
                    f"authorities[{attribute!r}] names department {code}, which no plugin "
                    f"registers; registered departments: {registered}"
                )
        claims: dict[str, list[str]] = {}
        for code, department in self.departments.items():
            for attribute in dict.fromkeys(department.authoritative_for):
                claims.setdefault(attribute, []).append(code)
        unsettled = {a: codes for a, codes in claims.items() if len(codes) > 1 and a not in chosen}
        if unsettled:
            conflicts = "; ".join(
                f"{attribute!r} is claimed by "
                + " and by ".join(self._named(c, source=True) for c in codes)
                for attribute, codes in unsettled.items()
            )
            settle = ", ".join(f"{a!r}: {codes[0]!r}" for a, codes in unsettled.items())
            raise PluginError(
                f"Conflicting authorities (一数一源): {conflicts}. An attribute has one source "
                f"of truth: remove it from all but one department's authoritative_for, or "
                f"settle it with Platform.open(..., authorities={{{settle}}}) naming the "
                f"department that wins"
            )
        merged = {attribute: codes[0] for attribute, codes in claims.items()}
        merged.update(chosen)
        return merged

    def _named(self, code: str, *, source: bool = False) -> str:
        """``示例县民政局 (11230199MB0000019A)``, with its plugin when ``source``."""
        name = self.departments[code].name
        plugin = self.department_sources.get(code) if source else None
        return f"{name} ({code}, {plugin})" if plugin else f"{name} ({code})"


def _results(pm: PluginManager, hook: str, kind: type[T]) -> list[tuple[str, T]]:
    """Every (plugin name, result) of a registration hook, each result type-checked."""
    out: list[tuple[str, T]] = []
    caller = getattr(pm.hook, hook)
    for impl in reversed(caller.get_hookimpls()):  # registration order
        who = f"plugin {impl.plugin_name!r} ({pm.distribution(impl.plugin_name)})"
        try:
            result = impl.function()
        except Exception as exc:
            raise PluginError(f"{who} hook {hook} raised {type(exc).__name__}: {exc}") from exc
        pm.trace_call(hook, impl.plugin_name, f"returned {result!r}")
        if result is None:
            # A forgotten `return` would otherwise register nothing, silently.
            raise PluginError(
                f"{who} hook {hook} returned None; it must return a list of "
                f"govsvc.{kind.__name__} (return [] to register none)"
            )
        if isinstance(result, str | bytes | Mapping) or not isinstance(result, Iterable):
            raise PluginError(
                f"{who} hook {hook} returned {type(result).__name__}; it must return a list "
                f"of govsvc.{kind.__name__}"
            )
        for index, value in enumerate(result):
            if not isinstance(value, kind):
                raise PluginError(
                    f"{who} hook {hook} returned {type(value).__name__} at position {index}; "
                    f"expected govsvc.{kind.__name__}"
                )
            out.append((impl.plugin_name, value))
    return out


def _keyed(
    pm: PluginManager,
    hook: str,
    kind: type[T],
    key: Callable[[T], str],
    what: str,
    owner: dict[str, str] | None = None,
) -> dict[str, T]:
    """The results of a registration hook by key; ``owner`` (if given) gets each key's plugin."""
    found: dict[str, T] = {}
    owner = {} if owner is None else owner
    for plugin_name, value in _results(pm, hook, kind):
        k = key(value)
        if k in found:
            first, second = owner[k], plugin_name
            raise PluginError(
                f"Conflicting plugins found for {what} {k}: "
                f"{pm.distribution(first)} (plugin {first!r}) and "
                f"{pm.distribution(second)} (plugin {second!r}); uninstall one of them or "
                f"restrict loading with GOVSVC_LOAD_PLUGINS"
            )
        found[k] = value
        owner[k] = plugin_name
    return found
