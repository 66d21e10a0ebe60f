"""Finding, validating and registering plugins (pluggy, entry-point group ``govsvc``).

Plugins are validated *before* pluggy sees them — pluggy's ``register`` is not atomic and a
half-registered plugin is worse than a clear error — and their registration hooks are
collected into a :class:`Registry` with every result type-checked and every duplicate
department named with both distributions.

Operator switches:

* ``GOVSVC_LOAD_PLUGINS=samr,psb`` loads only these entry points (empty: none);
* ``GOVSVC_TRACE_PLUGINS=1`` logs every hook call and its result (logger ``govsvc.plugins``).

A broken entry point (import error) is logged and skipped: one bad distribution does not
take the platform down. A *malformed* plugin (misnamed or unknown hook, wrong return type,
duplicate department) stops start-up with :class:`PluginError`, because running without a
department the operator installed would silently lose cases.
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
from govsvc.errors import PluginError
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


def _distribution_of(plugin: object) -> str:
    module = inspect.getmodule(plugin) if not inspect.ismodule(plugin) else plugin
    top = (getattr(module, "__name__", "") or "").split(".")[0]
    if not top:
        return "unknown distribution"
    names = _packages_distributions().get(top)
    return names[0] if names else f"{top} (not installed)"


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
        allow = env.get("GOVSVC_LOAD_PLUGINS")
        wanted = None if allow is None else {n.strip() for n in allow.split(",") if n.strip()}
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
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
    """What the plugins registered, checked: departments by code, providers by name."""

    departments: Mapping[str, Department]
    items: tuple[ItemBundle, ...]
    identity_providers: Mapping[str, IdentityProvider]
    payment_providers: Mapping[str, PaymentProvider]
    delivery_providers: Mapping[str, DeliveryProvider]
    calendars: tuple[CalendarData, ...]
    event_listeners: tuple[EventListener, ...] = ()

    @classmethod
    def collect(cls, pm: PluginManager) -> Registry:
        return cls(
            departments=_keyed(
                pm, "govsvc_departments", Department, lambda d: d.code, "department"
            ),
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
        )


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
    pm: PluginManager, hook: str, kind: type[T], key: Callable[[T], str], what: str
) -> dict[str, T]:
    found: dict[str, T] = {}
    owner: dict[str, str] = {}
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
