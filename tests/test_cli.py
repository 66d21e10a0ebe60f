"""The govsvc command line: operator tasks, and errors a person can act on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import govsvc
from govsvc import CaseState, Platform, cli, demo
from govsvc.store import migrate


def test_demo_walks_a_case_to_completion(tmp_path: Path) -> None:
    lines: list[str] = []
    case = demo.run(tmp_path / "demo.db", out=lines.append)
    assert case.state is CaseState.COMPLETED
    text = "\n".join(lines)
    assert "一次性告知" in text and "容缺" in text and "挂起" in text
    assert "promised 2026-03-12" in text  # moved by the 2-day suspension
    # the demo ran on a real file that another Platform can read back
    assert "may not reviews.decide" in text  # the policy refused a reviewer another's task
    with Platform.open(f"sqlite:///{tmp_path / 'demo.db'}") as platform:
        trail = platform.system().cases.trail(case.tracking_code)
    assert len(trail) == 12
    assert {e.actor.name for e in trail} >= {"张伟", "王芳", "李强", "赵敏", "孙丽"}


def test_items_import_export_and_case_show(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOVSVC_LOAD_PLUGINS", "")  # no installed plugin publishes items first
    db = f"sqlite:///{tmp_path / 'ops.db'}"
    sample = Path(demo.__file__).parent / "data" / "items" / "harbin.json"
    assert cli.main(["items", "import", str(sample), "--db", db]) == 0
    assert "published 7" in capsys.readouterr().out
    assert cli.main(["items", "import", str(sample), "--db", db]) == 0  # idempotent
    assert "published 0" in capsys.readouterr().out
    assert cli.main(["items", "export", "--db", db]) == 0
    exported = json.loads(capsys.readouterr().out)
    assert len(exported["items"]) == 6
    assert sorted(len(e["versions"]) for e in exported["items"]) == [1, 1, 1, 1, 1, 2]


def test_calendar_load_and_show(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = f"sqlite:///{tmp_path / 'cal.db'}"
    assert cli.main(["calendar", "show", "2027", "--db", db]) == 2
    assert "govsvc calendar load" in capsys.readouterr().err
    data = {
        "region": "CN",
        "source": "test",
        "years": {
            "2027": {"holidays": {"2027-01-01": "元旦"}, "workdays": {"2027-01-03": "元旦调休"}}
        },
    }
    path = tmp_path / "cn-2027.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    assert cli.main(["calendar", "load", str(path), "--db", db]) == 0
    assert "2027" in capsys.readouterr().out
    assert cli.main(["calendar", "show", "2027", "--db", db]) == 0
    out = capsys.readouterr().out
    assert "2027-01-01  holiday  元旦" in out and "2027-01-03  workday" in out
    assert cli.main(["calendar", "refresh", "--db", db]) == 0  # no open cases: nothing to do
    assert "of 0 open case(s)" in capsys.readouterr().out


def test_bad_input_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite:///{tmp_path / 'x.db'}"
    assert cli.main(["case", "show", "ABCD", "--db", db]) == 2
    err = capsys.readouterr().err
    assert err.startswith("govsvc: error: tracking code") and "11 characters" in err
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    assert cli.main(["calendar", "load", str(bad), "--db", db]) == 2
    assert "line 1" in capsys.readouterr().err


def test_db_upgrade(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["db", "upgrade", f"sqlite:///{tmp_path / 'm.db'}"]) == 0
    assert f"revision {migrate.head_revision()}" in capsys.readouterr().out


def test_demo_with_the_reference_departments(tmp_path: Path) -> None:
    pytest.importorskip("govsvc_samr", reason="the reference plugins are installed by `make`")
    pytest.importorskip("govsvc_health", reason="the reference plugins are installed by `make`")
    lines: list[str] = []
    demo.run(tmp_path / "demo.db", out=lines.append, departments=True)
    text = "\n".join(lines)
    assert "authoritative by 哈尔滨市公安局" in text
    assert "delivered 2 review task(s)" in text and "delivering again sends 0" in text
    assert "result_ready" in text and "hash chain intact" in text


def test_logs_checkpoint_and_verify_with_a_witness_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import secrets

    import sqlalchemy as sa

    from govsvc.store import tables

    db = f"sqlite:///{tmp_path / 'logs.db'}"
    assert cli.main(["logs", "checkpoint", "--db", db]) == 2
    assert "GOVSVC_CHECKPOINT_KEY" in capsys.readouterr().err
    monkeypatch.setenv("GOVSVC_CHECKPOINT_KEY", f"k2026:{secrets.token_hex(32)}")
    # one refused read: an access-log record
    with govsvc.Platform.open(db, load_entry_points=False) as p, pytest.raises(
        govsvc.PermissionDenied
    ):
        p.public().supervision.access_log()
    assert cli.main(["logs", "checkpoint", "--db", db]) == 0
    witness = tmp_path / "witness.jsonl"
    witness.write_text(capsys.readouterr().out, encoding="utf-8")
    assert '"log": "access_log"' in witness.read_text(encoding="utf-8")
    assert cli.main(["logs", "verify", "--db", db, "--witness", str(witness)]) == 0
    out = capsys.readouterr().out
    assert "access log: intact (1 records, checkpointed up to 1)" in out
    engine = sa.create_engine(db)
    with engine.begin() as conn:  # the record and its stored checkpoint both go
        conn.execute(sa.delete(tables.access_t))
        conn.execute(sa.delete(tables.checkpoints_t))
    engine.dispose()
    assert cli.main(["logs", "verify", "--db", db, "--witness", str(witness)]) == 1
    assert "access log: BROKEN at record 1" in capsys.readouterr().out
    witness.write_text("{not json\n", encoding="utf-8")
    assert cli.main(["logs", "verify", "--db", db, "--witness", str(witness)]) == 2
    assert "witness.jsonl, line 1" in capsys.readouterr().err
