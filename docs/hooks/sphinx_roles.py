"""Griffe extension: render the Sphinx roles of govsvc's docstrings as Markdown for mkdocstrings.

The docstrings use ``:class:`Platform```, ``:meth:`open``` and friends, which Markdown would
print literally. Before the docstrings are parsed, this extension turns every role into a
cross-reference (``[`Platform`][govsvc.platform.Platform]``) when the target is rendered on a
reference page, and into a code span otherwise, so a link never points at nothing (which
``mkdocs build --strict`` would report). A paragraph ending in ``::`` (reST's literal-block
marker) ends in ``:`` instead.

Loaded by mkdocs.yml (``plugins.mkdocstrings.handlers.python.options.extensions``).
"""

from __future__ import annotations

import re
from typing import Any

import griffe

# Modules rendered whole by docs/reference/*.md, and single objects rendered from other modules.
RENDERED_MODULES = (
    "govsvc.cases",
    "govsvc.catalogue",
    "govsvc.catalogue_io",
    "govsvc.identity",
    "govsvc.deadlines",
    "govsvc.calendar",
    "govsvc.divisions",
    "govsvc.errors",
    "govsvc.hookspecs",
    "govsvc.adapters",
    "govsvc.profile",
)
RENDERED_OBJECTS = (
    "govsvc.exchange.CallPolicy",
    "govsvc.exchange.ChainReport",
    "govsvc.platform.HolderCertificates",
    "govsvc.platform.DeliveryReport",
    "govsvc.platform.PollReport",
    "govsvc.platform.OutboxEntry",
    "govsvc.platform.Platform",
    "govsvc.platform.CaseSummary",
    "govsvc.platform.TaskView",
    "govsvc.platform.CaseLights",
)

_ROLE = re.compile(
    r":(?:py:)?(?:class|meth|func|data|attr|mod|exc|obj|const):`(~?)([\w.]+)(\(\))?`"
)
_LITERAL_MARKER = re.compile(r"(\S)::$", re.M)


def _rendered(obj: griffe.Object | griffe.Alias) -> bool:
    """True if a reference page shows ``obj`` (the ``filters: public`` option hides the rest)."""
    path = str(obj.path)
    if not any(path == r or path.startswith(r + ".") for r in RENDERED_MODULES + RENDERED_OBJECTS):
        return False
    node: griffe.Object | griffe.Alias | None = obj
    while node is not None and not node.is_package:
        if not node.is_public:
            return False
        node = node.parent
    return True


class SphinxRoles(griffe.Extension):
    """Rewrite Sphinx roles in every docstring of the loaded package."""

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        self._collection = loader.modules_collection
        self._visit(pkg)

    def _visit(self, obj: griffe.Object) -> None:
        if obj.docstring is not None:
            obj.docstring.value = self._rewrite(obj, obj.docstring.value)
        for member in obj.members.values():
            if not member.is_alias and isinstance(member, griffe.Object):
                self._visit(member)

    def _rewrite(self, obj: griffe.Object, text: str) -> str:
        def replace(match: re.Match[str]) -> str:
            short, target, call = match.group(1), match.group(2), match.group(3) or ""
            shown = (target.rsplit(".", 1)[-1] if short else target) + call
            found = self._resolve(obj, target)
            if found is not None and _rendered(found):
                return f"[`{shown}`][{found.path}]"
            return f"`{shown}`"

        text = _ROLE.sub(replace, text)
        return _LITERAL_MARKER.sub(r"\1:", text)

    def _resolve(self, obj: griffe.Object, target: str) -> griffe.Object | griffe.Alias | None:
        """The object ``target`` names as seen from ``obj`` (aliases followed), or None."""
        first, _, rest = target.partition(".")
        candidates = []
        try:
            base = obj.resolve(first)
            candidates.append(f"{base}.{rest}" if rest else base)
        except griffe.NameResolutionError:
            pass
        candidates.append(target)  # already a full path, e.g. govsvc.errors.CatalogueRejected
        for candidate in candidates:
            try:
                found: griffe.Object | griffe.Alias = self._collection.get_member(candidate)
                if isinstance(found, griffe.Alias):
                    found = found.final_target
            except (KeyError, ValueError, griffe.AliasResolutionError, griffe.CyclicAliasError):
                continue
            return found
        return None
