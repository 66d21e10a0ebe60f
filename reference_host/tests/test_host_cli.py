"""The govsvc-host command: help everywhere, operator tasks through the SDK's services."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from govsvc_host.cli import app
from typer.testing import CliRunner

import govsvc

runner = CliRunner()


def write_config(tmp_path: Path, **extra: str) -> Path:
    lines = [f'database_url = "sqlite:///{tmp_path / "cli.db"}"',
             'session_secret = "cli-test-secret-0123456789"',
             f'materials_dir = "{tmp_path / "materials"}"']
    lines += [f"{k} = {v}" for k, v in extra.items()]
    path = tmp_path / "host.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("command", [
    [], ["demo"], ["serve"], ["worker"], ["db"], ["db", "upgrade"], ["catalog", "import"],
    ["calendar", "import"], ["users"], ["users", "add"], ["users", "list"], ["users", "token"],
])
def test_every_command_has_help(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_db_upgrade_then_catalog_import_with_progress(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    assert runner.invoke(app, ["db", "upgrade", "--config", str(config)]).exit_code == 0
    catalogue = tmp_path / "harbin.json"
    entries = govsvc.load_sample_catalogue()
    catalogue.write_text(govsvc.export_json(entries), encoding="utf-8")
    result = runner.invoke(app, ["catalog", "import", str(catalogue), "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "checking items" in result.output and "published 7 new item version(s)" in result.output
    again = runner.invoke(app, ["catalog", "import", str(catalogue), "--config", str(config)])
    assert "published 0 new item version(s)" in again.output


def test_catalog_errors_name_the_line_and_publish_nothing(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    broken = tmp_path / "broken.json"
    text = govsvc.export_json(govsvc.load_sample_catalogue())
    broken.write_text(text.replace('"items"', '"itemz"', 1), encoding="utf-8")
    result = runner.invoke(app, ["catalog", "import", str(broken), "--config", str(config)])
    assert result.exit_code == 2
    assert "govsvc-host: error:" in result.output and "broken.json" in result.output
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('{"items": [\n  {"name": 1,\n}', encoding="utf-8")
    result = runner.invoke(app, ["catalog", "import", str(bad_json), "--config", str(config)])
    assert result.exit_code == 2 and "line" in result.output


def test_calendar_import_loads_a_year_and_names_a_wrong_date(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    year = {"region": "CN", "years": {"2031": {"holidays": {"2031-01-01": "元旦"},
                                                "workdays": {}}}}
    file = tmp_path / "2031.json"
    file.write_text(json.dumps(year, ensure_ascii=False), encoding="utf-8")
    result = runner.invoke(app, ["calendar", "import", str(file), "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "loaded working-day data for 2031" in result.output
    wrong = tmp_path / "wrong.json"
    wrong.write_text('{"region": "CN", "years": {"2031": {"holidays": {"2031-13-01": "x"}}}}')
    result = runner.invoke(app, ["calendar", "import", str(wrong), "--config", str(config)])
    assert result.exit_code == 2 and "2031-13-01" in result.output


def test_users_add_list_and_tokens(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    added = runner.invoke(app, ["users", "add", "--config", str(config), "--subject", "sub-9",
                                "--role", "reviewer", "--staff-id", "r-9", "--name", "钱审",
                                "--agency", "11230100013114525L"])
    assert added.exit_code == 0, added.output
    refused = runner.invoke(app, ["users", "add", "--config", str(config), "--subject", "sub-8",
                                  "--role", "reviewer", "--staff-id", "r-8", "--name", "无机构"])
    assert refused.exit_code == 2 and "govsvc_agency" in refused.output
    listed = runner.invoke(app, ["users", "list", "--config", str(config)])
    assert "r-9" in listed.output and "hrb-idp:sub-9" in listed.output
    token = runner.invoke(app, ["users", "token"])
    assert token.output.startswith("token: gst_") and "hash:  sha256:" in token.output


def test_a_wrong_setting_is_named(tmp_path: Path) -> None:
    config = write_config(tmp_path, worker='{ mode = "sometimes" }')
    result = runner.invoke(app, ["db", "upgrade", "--config", str(config)])
    assert result.exit_code == 2 and "worker.mode" in result.output


def test_worker_once_runs_every_job(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    assert runner.invoke(app, ["db", "upgrade", "--config", str(config)]).exit_code == 0
    result = runner.invoke(app, ["worker", "--once", "--config", str(config)])
    assert result.exit_code == 0, result.output
    for job in ("deliver_outbox", "poll_reviews", "fetch_results", "notify_applicants",
                "send_sms", "sweep_lights", "refresh_calendar", "issue_certificates",
                "sweep_expiry"):
        assert f"{job}:" in result.output


def test_the_demo_system_comes_up_with_every_role(tmp_path: Path, monkeypatch: Any) -> None:
    from govsvc_host.demo import banner, demo_system
    from starlette.testclient import TestClient

    lines: list[str] = []
    with demo_system(tmp_path / "demo", port=8000, idp_port=0, worker=False) as system:
        banner(system, lines.append)
        assert set(system.simulators) == {"samr", "psb", "hrss", "health"}
        client = TestClient(system.app)
        assert client.get("/healthz").json()["departments"]
        assert len(client.get("/api/v1/items").json()["items"]) >= 6
        clerk = system.platform.session(govsvc.Principal.clerk(
            "c-0301", "王芳", agency="12230100MB1A03528R", serves=["11230100013114525L"],
            hall="x", auth=govsvc.Authentication(provider="t", assurance=govsvc.Assurance.L3)),
            purpose="窗口受理")
        assert len(clerk.cases.of_applicant("91230102MA19QW7R1Q")) == 1
    text = "\n".join(lines)
    assert "wangfang" in text and "govsvc-demo" in text and "127.0.0.1:8000" in text
