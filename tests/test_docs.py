"""The documentation stays true: its examples run, its tables match the code, its nav is whole.

Only fenced blocks tagged exactly ``python`` are executed. Blocks tagged ``py``, ``text`` or
``console`` are illustrations (a Django sketch, console output) and are deliberately not run.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from govsvc.cases import _ALLOWED, CaseState

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

# Pages that exist in docs/ on purpose without a nav entry (none today).
NOT_IN_NAV: frozenset[str] = frozenset()

_FENCE = re.compile(r"^```(?P<lang>[\w+-]*)[^\n]*\n(?P<body>.*?)^```[ \t]*$", re.S | re.M)


def code_blocks(page: Path, lang: str) -> list[str]:
    """The bodies of the fenced blocks of ``page`` tagged exactly ``lang``, in order."""
    text = page.read_text(encoding="utf-8")
    return [m["body"] for m in _FENCE.finditer(text) if m["lang"] == lang]


def nav_pages(nav: object) -> list[str]:
    """Every Markdown file the mkdocs nav names, depth first."""
    if isinstance(nav, str):
        return [nav] if nav.endswith(".md") else []
    if isinstance(nav, list):
        return [page for entry in nav for page in nav_pages(entry)]
    if isinstance(nav, dict):
        return [page for value in nav.values() for page in nav_pages(value)]
    return []


def mkdocs_nav() -> list[str]:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    return nav_pages(config["nav"])


def test_embedding_guide_runs(tmp_path: Path) -> None:
    # Only ```python blocks run; the guide's ```py (Django) and ```text blocks are sketches.
    blocks = code_blocks(DOCS / "embedding.md", "python")
    assert len(blocks) >= 10, "the embedding guide should walk a case through its whole life"
    script = tmp_path / "embedding_guide.py"
    script.write_text("\n\n".join(blocks), encoding="utf-8")
    # A fresh interpreter in an empty directory: the guide opens sqlite:///govsvc.db there.
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        encoding="utf-8",
        check=False,
    )
    assert done.returncode == 0, (
        f"docs/embedding.md failed when run as one script ({script}):\n{done.stderr}"
    )
    assert (tmp_path / "govsvc.db").exists()


def source_of(block: str) -> str:
    """The Python source of a block; for a doctest-style block, its ``>>>``/``...`` lines."""
    if not block.lstrip().startswith(">>>"):
        return block
    lines = [ln for ln in block.splitlines() if ln.startswith((">>>", "..."))]
    return "\n".join(ln[4:] for ln in lines if ln.rstrip() != "...")


@pytest.mark.parametrize("page", sorted(DOCS.rglob("*.md")), ids=lambda p: p.name)
def test_python_blocks_compile(page: Path) -> None:
    for number, body in enumerate(code_blocks(page, "python"), 1):
        compile(source_of(body), f"{page.relative_to(ROOT)} python block {number}", "exec")


def test_every_page_is_in_the_nav() -> None:
    nav = mkdocs_nav()
    pages = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    missing = sorted(pages - set(nav) - NOT_IN_NAV)
    assert not missing, f"add these pages to the nav in mkdocs.yml (or to NOT_IN_NAV): {missing}"
    duplicated = sorted({p for p in nav if nav.count(p) > 1})
    assert not duplicated, f"pages listed twice in the nav: {duplicated}"


def test_nav_names_only_existing_pages() -> None:
    absent = [page for page in mkdocs_nav() if not (DOCS / page).is_file()]
    assert not absent, f"the nav in mkdocs.yml names pages that do not exist: {absent}"


def test_getting_started_gives_the_readme_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    guide = (DOCS / "getting-started.md").read_text(encoding="utf-8")
    commands = {"make demo", "make test"} | set(re.findall(r"`(make [\w-]+)`", readme))
    missing = sorted(c for c in commands if c not in guide)
    assert not missing, f"docs/getting-started.md does not mention {missing}"


def test_state_table_matches_the_code() -> None:
    """The table of states × commands in cases.md is the one the code enforces."""
    text = (DOCS / "cases.md").read_text(encoding="utf-8")
    section = text.split("\n## States and commands", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(\w+)` \|[^|]*\|(.*)\|\s*$", section, re.M)
    assert rows, "cases.md lost its table of states and commands"
    documented = {
        CaseState(state): frozenset(re.findall(r"`(\w+)`", commands)) for state, commands in rows
    }
    assert documented == _ALLOWED


def test_event_table_matches_the_payloads() -> None:
    """The table of event kinds and payload fields in cases.md is the code's."""
    import attrs

    from govsvc.events import PAYLOADS

    text = (DOCS / "cases.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `(\w+)` \| [^|]+ \| `(\w+)` \|(.*)\|\s*$", text, re.M)
    documented = {kind: (cls, re.findall(r"`(\w+)`", fields)) for kind, cls, fields in rows}
    actual = {
        kind.value: (cls.__name__, [f.name for f in attrs.fields(cls)])
        for kind, cls in PAYLOADS.items()
    }
    assert documented == actual
