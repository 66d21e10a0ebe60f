"""``govsvc-host``: run the reference host, its workers, and its operator tasks.

Operator tasks go through the SDK's own services as the platform principal (the same code
``govsvc`` the SDK's command runs): ``calendar import`` is ``session.calendar.load``,
``catalog import`` is ``govsvc.import_json``/``import_csv`` then
``session.catalogue.import_items`` — one implementation of each, reachable from both commands.
Errors print one line saying what was wrong and what to do, and exit with status 2.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

import govsvc
from govsvc_host.settings import Settings, SettingsError

app = typer.Typer(
    help="govsvc reference host (政务服务参考宿主): web app, REST API, workers, operator tasks.",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="The database schema.", no_args_is_help=True)
catalog_app = typer.Typer(help="The service item catalogue (事项).", no_args_is_help=True)
calendar_app = typer.Typer(help="The working-day calendar (工作日).", no_args_is_help=True)
users_app = typer.Typer(help="Staff and their roles; API tokens.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(catalog_app, name="catalog")
app.add_typer(calendar_app, name="calendar")
app.add_typer(users_app, name="users")

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML settings file (default $GOVSVC_HOST_CONFIG)",
                 dir_okay=False),
]


def _settings(config: Path | None) -> Settings:
    path = config or (Path(os.environ["GOVSVC_HOST_CONFIG"])
                      if os.environ.get("GOVSVC_HOST_CONFIG") else None)
    return Settings.load(path) if path else Settings()


def _fail(message: str) -> None:
    typer.echo(f"govsvc-host: error: {message}", err=True)
    raise typer.Exit(2)


@app.command()
def demo(
    data_dir: Annotated[Path, typer.Option(help="where the demo's SQLite file and uploads go")]
    = Path(".demo"),
    port: Annotated[int, typer.Option(help="the host's port on 127.0.0.1")] = 8000,
    idp_port: Annotated[int, typer.Option(help="the identity provider's port")] = 8180,
    auto_decide: Annotated[
        float | None,
        typer.Option(help="let the simulated legacy systems approve tasks after N seconds"),
    ] = None,
) -> None:
    """Start everything on loopback: simulators, identity provider, host; print the logins."""
    import uvicorn

    from govsvc_host.demo import banner, demo_system
    from govsvc_host.serving import UVICORN_OPTIONS

    logging.basicConfig(level=logging.WARNING)
    try:
        with demo_system(data_dir, port=port, idp_port=idp_port, auto_decide=auto_decide) as s:
            banner(s)
            uvicorn.run(s.app, host="127.0.0.1", port=port, log_level="warning",
                        **UVICORN_OPTIONS)
    except (govsvc.GovsvcError, RuntimeError) as exc:
        _fail(str(exc))


@app.command()
def serve(
    config: ConfigOption = None,
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
    proxy_headers: Annotated[bool, typer.Option(help="trust X-Forwarded-* (behind a proxy)")]
    = False,
) -> None:
    """Serve the host (web pages and REST API) with the settings of --config."""
    import uvicorn

    from govsvc_host.app import create_app
    from govsvc_host.runtime import open_platform
    from govsvc_host.serving import UVICORN_OPTIONS
    from govsvc_host.worker import InProcessWorker

    try:
        settings = _settings(config)
        platform = open_platform(settings, migrate=not settings.is_postgres)
    except (govsvc.GovsvcError, SettingsError) as exc:
        _fail(str(exc))
        return
    worker = None
    mode = settings.worker.mode
    if mode == "thread" or (mode == "auto" and not settings.is_postgres):
        worker = InProcessWorker(platform, interval=settings.worker.interval).start()
    try:
        uvicorn.run(create_app(platform, settings), host=host, port=port,
                    proxy_headers=proxy_headers, log_level="info", **UVICORN_OPTIONS)
    finally:
        if worker:
            worker.stop()
        platform.close()


@app.command()
def worker(
    config: ConfigOption = None,
    once: Annotated[bool, typer.Option(help="run every job once and exit")] = False,
    name: Annotated[str | None, typer.Option(help="worker name in procrastinate's logs")] = None,
) -> None:
    """Run background jobs: procrastinate on PostgreSQL (any number of these), else a loop."""
    from govsvc_host import worker as jobs
    from govsvc_host.runtime import open_platform

    logging.basicConfig(level=logging.INFO)
    try:
        settings = _settings(config)
        platform = open_platform(settings, migrate=False)
    except (govsvc.GovsvcError, SettingsError) as exc:
        _fail(str(exc))
        return
    try:
        if once:
            for job in jobs.JOBS:
                typer.echo(f"{job.name}: {jobs.run_job(platform, job.name)}")
            return
        if settings.is_postgres and settings.worker.mode in ("auto", "procrastinate"):
            jobs.apply_schema(settings.database_url, schema=settings.worker.procrastinate_schema)
            jobs.run_procrastinate_worker(
                platform, settings.database_url, schema=settings.worker.procrastinate_schema,
                name=name,
            )
        else:
            loop = jobs.InProcessWorker(platform, interval=settings.worker.interval)
            try:
                loop.stop_event.wait(0)
                while not loop.stop_event.is_set():
                    loop.run_once()
                    loop.stop_event.wait(loop.tick)
            except KeyboardInterrupt:
                pass
    finally:
        platform.close()


@db_app.command("upgrade")
def db_upgrade(config: ConfigOption = None) -> None:
    """Migrate the SDK's schema, add the host's tables (and procrastinate's on PostgreSQL)."""
    from govsvc_host import worker as jobs
    from govsvc_host.runtime import upgrade

    try:
        settings = _settings(config)
        upgrade(settings)
        if settings.is_postgres:
            jobs.apply_schema(settings.database_url, schema=settings.worker.procrastinate_schema)
    except (govsvc.GovsvcError, SettingsError) as exc:
        _fail(str(exc))
    typer.echo("schema up to date")


@catalog_app.command("import")
def catalog_import(
    file: Annotated[Path, typer.Argument(help="catalogue JSON, or the items CSV", exists=True,
                                         dir_okay=False)],
    materials: Annotated[Path | None, typer.Option(help="the materials CSV (with an items CSV)")]
    = None,
    config: ConfigOption = None,
) -> None:
    """Publish the items of a catalogue file (all versions, in one transaction)."""
    from govsvc_host.runtime import open_platform

    try:
        settings = _settings(config)
        raw = file.read_bytes()
        if file.suffix.lower() == ".csv":
            if materials is None:
                _fail("a CSV catalogue is two files: pass the materials CSV with --materials")
                return
            entries = govsvc.import_csv(raw, materials.read_bytes(),
                                        source=(str(file), str(materials)), check=False)
        else:
            entries = govsvc.import_json(raw, source=str(file), check=False)
    except (govsvc.GovsvcError, SettingsError) as exc:
        _fail(str(exc))  # ImportFileError names the file and line
        return
    problems: list[str] = []
    with typer.progressbar(entries, label="checking items", length=len(entries)) as bar:
        for item, versions in bar:
            for version in versions:
                problems += [f"{item.implementation_code} v{version.version}: {p}"
                             for p in govsvc.check_version(item, version)]
    if problems:
        for line in problems:
            typer.echo(line, err=True)
        _fail(f"{len(problems)} problem(s) in {file}; nothing was published")
    platform = open_platform(settings)
    try:
        published = platform.system().catalogue.import_items(entries)
    except govsvc.GovsvcError as exc:
        _fail(str(exc))
        return
    finally:
        platform.close()
    typer.echo(f"published {len(published)} new item version(s) from {file}")


@calendar_app.command("import")
def calendar_import(
    file: Annotated[Path, typer.Argument(help="a year's official arrangement (JSON)",
                                         exists=True, dir_okay=False)],
    config: ConfigOption = None,
) -> None:
    """Load a year's working days; provisional due dates of open cases are recomputed."""
    from govsvc_host.runtime import open_platform

    try:
        settings = _settings(config)
        platform = open_platform(settings)
    except (govsvc.GovsvcError, SettingsError) as exc:
        _fail(str(exc))
        return
    try:
        years = platform.system().calendar.load(file)
    except govsvc.GovsvcError as exc:
        _fail(str(exc))
        return
    finally:
        platform.close()
    typer.echo(f"loaded working-day data for {', '.join(map(str, years))} from {file}")


ROLES = ("clerk", "reviewer", "approver", "supervisor", "catalogue_admin", "system_admin")


@users_app.command("add")
def users_add(
    subject: Annotated[str, typer.Option(help="the identity provider's sub for this person")],
    role: Annotated[str, typer.Option(help=f"one of {', '.join(ROLES)}")],
    staff_id: Annotated[str, typer.Option(help="工号")],
    name: Annotated[str, typer.Option(help="姓名")],
    agency: Annotated[str, typer.Option(help="credit code of the agency/department")] = "",
    serves: Annotated[list[str] | None, typer.Option(help="clerks: agencies served (repeat)")]
    = None,
    hall: Annotated[str, typer.Option(help="clerks: the hall")] = "",
    division: Annotated[str, typer.Option(help="supervisors: division code")] = "",
    config: ConfigOption = None,
) -> None:
    """Map a login subject to a member of staff (their role, agency, hall)."""
    from govsvc_host.auth import ClaimsError, principal_from_claims
    from govsvc_host.runtime import open_platform
    from govsvc_host.store import HostStore, StaffRecord

    if role not in ROLES:
        _fail(f"role {role!r} is not a staff role; use one of {', '.join(ROLES)}")
    settings = _settings(config)
    record = StaffRecord(subject=f"{settings.identity.name}:{subject}", role=role,
                         staff_id=staff_id, name=name, agency=agency, serves=tuple(serves or ()),
                         hall=hall, division=division)
    try:  # the same checks a login gets: a record that cannot make a principal is refused now
        principal_from_claims({"sub": subject, **record.claims()}, provider=settings.identity.name)
    except ClaimsError as exc:
        _fail(str(exc))
    platform = open_platform(settings)
    try:
        store = HostStore(platform)
        store.create()
        store.add_staff(record)
    finally:
        platform.close()
    typer.echo(f"{name} ({staff_id}) logs in as {role}")


@users_app.command("list")
def users_list(config: ConfigOption = None) -> None:
    """The staff directory."""
    from govsvc_host.runtime import open_platform
    from govsvc_host.store import HostStore

    settings = _settings(config)
    platform = open_platform(settings)
    try:
        store = HostStore(platform)
        store.create()
        for r in store.list_staff():
            where = r.hall or r.agency or r.division
            typer.echo(f"{r.staff_id:<10} {r.name:<6} {r.role:<16} {where:<20} {r.subject}")
    finally:
        platform.close()


@users_app.command("token")
def users_token() -> None:
    """Make an API token: give the token to the caller, put the hash in [[api_tokens]]."""
    from govsvc_host.security import new_api_token

    token, digest = new_api_token()
    typer.echo(f"token: {token}\nhash:  {digest}")


def main() -> None:
    try:
        app()
    except SettingsError as exc:
        typer.echo(f"govsvc-host: error: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
