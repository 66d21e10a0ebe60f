"""docs/certificates.md stays true: its example runs and its tables are the code's."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from govsvc.ecert import CertificateStatus, Reason
from govsvc.ecert._certificate import _ALLOWED

PAGE = Path(__file__).resolve().parents[2] / "docs" / "certificates.md"
_FENCE = re.compile(r"^```(?P<lang>[\w+-]*)[^\n]*\n(?P<body>.*?)^```[ \t]*$", re.S | re.M)


def section(title: str) -> str:
    return PAGE.read_text(encoding="utf-8").split(f"\n## {title}", 1)[1].split("\n## ", 1)[0]


def test_the_walkthrough_runs(tmp_path: Path) -> None:
    blocks = [m["body"] for m in _FENCE.finditer(PAGE.read_text("utf-8")) if m["lang"] == "python"]
    assert len(blocks) >= 2
    script = tmp_path / "certificates_page.py"
    script.write_text("\n\n".join(blocks), encoding="utf-8")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          encoding="utf-8", cwd=tmp_path, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "核验通过"
    assert done.stdout.splitlines()[1].startswith("HTTPS://ZWFW.HARBIN.GOV.CN/ECERT/V/1.2.156.3005.2.")


def test_reason_table_lists_every_reason_as_the_code_says() -> None:
    rows = re.findall(r"^\| `(\w+)` \| [^|]+ \| (\w+) \| (.+?) \| (.+?) \|$", section("Verification"), re.M)
    documented = {code: (outcome, text, label) for code, outcome, text, label in rows}
    actual = {r.value: (r.outcome.value, r.text, r.label) for r in Reason}
    assert documented == actual


def test_status_table_is_the_one_the_code_enforces() -> None:
    rows = re.findall(r"^\| `(\w+)` \|(.*)\|\s*$", section("The certificate and its life"), re.M)
    documented = {CertificateStatus(s): frozenset(re.findall(r"`(\w+)`", c)) for s, c in rows}
    assert documented == _ALLOWED
