"""The `pycoderd` command: server, db, users, tokens, provisionerd, openapi, nginx-config."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import sys
from pathlib import Path

import click

from app import options

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 110}


class CLIError(click.ClickException):
    """One line on stderr, exit 1."""

    def show(self, file=None):
        click.echo(f"pycoderd: {self.format_message()}", err=True)


def build_app(flags=None, *, database=True):
    """The app, or a one-line error naming the bad option (as the person gave it).

    With `database`, the configured database must answer first (a command that needs it would
    otherwise fail later with a traceback, and the secret key's check would speak first).
    """
    from app import create_app, db

    try:
        if database:
            db.check_connection(options.load(flags=flags))
        return create_app({"OPTION_FLAGS": flags or {}})
    except options.OptionError as exc:
        raise option_error(exc, flags) from None


def option_error(exc: options.OptionError, flags) -> CLIError:
    """The error naming the flag when the value came from one (`--provisioner-daemons`), not
    the environment variable the message names."""
    return CLIError(options.name_as_given(str(exc), flags or {}))


# How --help shows each value type (Coder's names; a comma-separated list is a "list").
METAVARS = {"string-array": "list", "struct": "yaml"}


class RegistryOption(click.Option):
    """A click option standing for one registry option (app/coder_options.py)."""

    def __init__(self, *args, registry: options.Option, **kwargs):
        super().__init__(*args, **kwargs)
        self.registry = registry


class GroupedCommand(click.Command):
    """--help lists the registry's options under Coder's groups, each with its type, its
    environment variable, its default and whether pycoderd acts on it."""

    def format_options(self, ctx, formatter):
        sections: dict[str, list] = {}
        others = []
        for param in self.get_params(ctx):
            if isinstance(param, RegistryOption):
                if not param.hidden:
                    path = " / ".join(g.name for g in options.group_path(param.registry))
                    sections.setdefault(path, []).append(param.registry)
            elif (record := param.get_help_record(ctx)) is not None:
                others.append(record)
        order = {name: index for index, name in enumerate(options.group_names())}
        for path in sorted(sections, key=lambda p: order.get(p.rsplit(" / ", 1)[-1], -1)):
            with formatter.section(f"{path} options" if path else "Options"):
                for option in sections[path]:
                    _format_option(formatter, option)
        if others:
            with formatter.section("Other options"):
                formatter.write_dl(others)


def _format_option(formatter, option: options.Option) -> None:
    names = ("-" + option.flag_shorthand + ", " if option.flag_shorthand else "") + "--"
    line = f"{names}{option.flag} {METAVARS.get(option.type, option.type)}"
    if option.env:
        line += f", ${option.env}"
    formatter.write_text(line)
    notes = [(option.help or option.description).strip()]
    if option.default:
        notes.append(f"[default: {option.default}]")
    if not option.acted_on:
        notes.append("[reported only]")
    with formatter.indentation():
        formatter.write_text(" ".join(note for note in notes if note))


def _option_flags(command):
    """Add one click option per registry option that has a flag (so --help lists them all).
    Values stay text here: options.load parses them, so errors read the same from any source."""
    for option in reversed(options.all_options()):
        if not option.flag:
            continue
        names = ["--" + option.flag]
        if option.flag_shorthand:
            names.append("-" + option.flag_shorthand)
        extra = {"is_flag": False, "flag_value": "true"} if option.type == "bool" else {}
        command = click.option(
            *names,
            option.key.replace(".", "__"),
            cls=RegistryOption,
            registry=option,
            default=None,
            metavar=METAVARS.get(option.type, option.type),
            hidden=option.hidden,
            show_default=False,
            **extra,
        )(command)
    return command


def _flags_from(kwargs) -> dict:
    return {key.replace("__", "."): value for key, value in kwargs.items() if value is not None}


@click.group(context_settings=CONTEXT)
@click.version_option(package_name="pycoderd", prog_name="pycoderd")
def main():
    """pycoderd: a self-hostable server for the Coder API."""


@main.command(cls=GroupedCommand, context_settings=CONTEXT)
@_option_flags
def server(**kwargs):
    """Migrate the database once, then serve the API with gunicorn.

    Every option can also be set by its environment variable or in the YAML file named by
    CODER_CONFIG_PATH. Options marked [reported only] are accepted and shown by
    GET /api/v2/deployment/config, but pycoderd does nothing with them.
    """
    from app import db, gunicorn_server, prometheus
    from app.services import users as users_service
    from app.ssh import runner as ssh_runner

    flags = _flags_from(kwargs)
    try:
        if options.load(flags=flags)["prometheus.enable"]:
            # Before anything imports prometheus_client: the workers share this folder.
            prometheus.prepare_multiprocess_dir()
    except options.OptionError as exc:
        raise option_error(exc, flags) from None
    app = build_app(flags)
    settings = app.config["SETTINGS"]
    # Through the configured logging, so the banner is in the chosen format (JSON included).
    log = logging.getLogger("pycoderd.server")
    if settings["pycoderd.auto_migrate"]:
        for name in db.upgrade():
            log.info("migrated: %s", name)
    elif db.pending():
        raise CLIError("the database needs migrations: run `pycoderd db upgrade`")
    with app.app_context(), db.database.connection_context():
        if users_service.count() == 0:
            command = command_path()
            log.info(
                "No users yet. Create the first one with: %s users create admin "
                "--email admin@example.com --role site-admin --password '<a strong password>'",
                command,
            )
            log.info("... and a token with: TOKEN=$(%s tokens create cli --user admin)", command)
    if settings["pycoderd.workspace_network"] == "host":
        log.warning(
            "CODER_WORKSPACE_NETWORK=host is a single-tenant mode: workspaces share this "
            "machine's ports, so a dev URL reaches whatever listens on its port here (another "
            "user's workspace included); use bridge for more than one user (README: Security "
            "model)"
        )
    ssh_socket = _ssh_socket(app)
    if ssh_socket is not None:
        from app.ssh import runner as ssh_runner

        log.info("SSH gateway listening on %s", ssh_runner.address_of(ssh_socket))
    gunicorn_server.serve(
        flags, settings, version=app.config["BUILD_VERSION"], ssh_socket=ssh_socket
    )


def command_path() -> str:
    """How to run this pycoderd from another shell in the same folder: `pycoderd` when PATH
    finds this one, else its path (`.venv/bin/pycoderd` in a checkout)."""
    script = Path(sys.executable).with_name("pycoderd")
    if not script.exists():
        return "pycoderd"
    found = shutil.which("pycoderd")
    if found and Path(found).resolve() == script.resolve():
        return "pycoderd"
    relative = os.path.relpath(script)
    return script.as_posix() if relative.startswith("..") else relative


def _ssh_socket(app):
    """The SSH gateway's listening socket (None when CODER_SSH_ADDRESS is empty), with its host
    key ready: a taken address or an unusable host key stops the server with one line."""
    from app import db
    from app.ssh import host_key
    from app.ssh import runner as ssh_runner

    address = app.config["SETTINGS"]["pycoderd.ssh_address"]
    if not address:
        return None
    try:
        with app.app_context(), db.database.connection_context():
            host_key.load_or_create(app.config["SECRET_KEY"])
        return ssh_runner.listen(address)
    except (host_key.HostKeyError, ssh_runner.ListenError) as exc:
        raise CLIError(str(exc)) from None


@main.group(context_settings=CONTEXT)
def db():
    """Database migrations."""


@db.command("upgrade")
@click.argument("target", required=False)
def db_upgrade(target):
    """Apply pending migrations (up to TARGET)."""
    from app import db as database

    build_app()
    applied = database.upgrade(target)
    click.echo("\n".join(f"applied: {name}" for name in applied) or "up to date")


@db.command("downgrade")
@click.argument("target", required=False)
def db_downgrade(target):
    """Revert the last migration (or every one back through TARGET)."""
    from playhouse.migrations import MigrationError

    from app import db as database

    build_app()
    try:
        reverted = database.downgrade(target)
    except MigrationError as exc:
        raise CLIError(str(exc)) from None
    click.echo("\n".join(f"reverted: {name}" for name in reverted) or "nothing to revert")


@db.command("status")
def db_status():
    """List migrations and whether each is applied."""
    from app import db as database

    build_app()
    for migration in database.status():
        state = f"applied {migration.applied:%Y-%m-%d %H:%M:%S}" if migration.applied else "pending"
        click.echo(f"{migration.name}\t{state}")


@main.group(context_settings=CONTEXT)
def users():
    """Manage users."""


@users.command("create")
@click.argument("username")
@click.option("--email", required=True, help="The user's email address.")
@click.option("--password", default="", help="A password (omit for token-only users).")
@click.option("--role", "roles", multiple=True, help="A site role; repeat for several.")
@click.option("--name", default="", help="The user's full name.")
def users_create(username, email, password, roles, name):
    """Create a user and print their id."""
    from app import db as database
    from app import errors
    from app.services import users as users_service
    from app.services.context import Caller

    app = build_app()
    with app.app_context(), database.database.connection_context():
        try:
            user = users_service.create(
                Caller(user=None, user_agent="pycoderd cli"),
                username=username,
                email=email,
                password=password,
                name=name,
                roles=roles,
            )
        except errors.APIError as exc:
            detail = "; ".join(f"{field}: {text}" for field, text in exc.validations)
            raise CLIError(f"{exc.message} {detail}".strip()) from None
    click.echo(user.id)


@main.group(context_settings=CONTEXT)
def tokens():
    """Manage API tokens."""


_LIFETIME = re.compile(r"^(\d+)([dw])$")


def parse_lifetime(text: str) -> int:
    """Seconds from a Go duration or a number of days/weeks ("30d", "2w", "720h")."""
    match = _LIFETIME.match(text.strip())
    if match:
        return int(match.group(1)) * (86400 if match.group(2) == "d" else 7 * 86400)
    return options.parse_duration(text) // 1_000_000_000


@tokens.command("create")
@click.argument("name")
@click.option("--user", "username", required=True, help="Whose token (username or id).")
@click.option("--lifetime", default="30d", show_default=True, help="e.g. 30d, 720h.")
def tokens_create(name, username, lifetime):
    """Create a named token and print only the token."""
    from app import db as database
    from app import errors
    from app.services import api_keys
    from app.services import users as users_service
    from app.services.context import Caller

    try:
        seconds = parse_lifetime(lifetime)
    except ValueError as exc:
        raise CLIError(f"--lifetime: {exc}") from None
    app = build_app()
    with app.app_context(), database.database.connection_context():
        user = users_service.find(username)
        if user is None:
            raise CLIError(f'no user "{username}"')
        try:
            new = api_keys.create_token(
                Caller(user=user, user_agent="pycoderd cli"),
                user,
                token_name=name,
                lifetime_ns=seconds * api_keys.NANOSECONDS,
                max_lifetime_ns=app.config["SETTINGS"]["max_token_lifetime"],
            )
        except errors.APIError as exc:
            raise CLIError(f"{exc.message} {exc.detail}".strip()) from None
    click.echo(new.token)


@main.command(cls=GroupedCommand, context_settings=CONTEXT)
@_option_flags
def provisionerd(**kwargs):
    """Run provisioner daemons and the stats collector in the foreground."""
    import threading

    from app.provisioner import background, engine

    app = build_app(_flags_from(kwargs))
    settings = app.config["SETTINGS"]
    host = engine.docker_host(settings) or "none: set CODER_DOCKER_HOST"
    click.echo(
        f"pycoderd provisionerd: {settings['provisioner.daemons']} daemons, engine {host}",
        err=True,
    )
    stop = threading.Event()
    background.stop_on_signals(stop)
    background.run_loops(app, stop, loops=background.PROVISIONER_LOOPS)


@main.command(context_settings=CONTEXT)
@click.option(
    "--dir",
    "folder",
    type=click.Path(file_okay=False),
    default=None,
    help="Where its files go [default: <instance>/starter].",
)
@click.option(
    "--registry-address",
    default="127.0.0.1:5000",
    show_default=True,
    help="The registry's loopback host:port.",
)
@click.option(
    "--network",
    type=click.Choice(["host", "bridge"]),
    default="host",
    show_default=True,
    help="CODER_WORKSPACE_NETWORK to suggest (bridge needs netavark and iptables).",
)
def starter(folder, registry_address, network):
    """Serve a first workspace's needs offline: a loopback registry (Debian's docker-registry)
    holding a starter image built from this machine's packages (busybox, bash, rsync), and
    Podman's Docker API socket. Prints the server's settings; runs until Ctrl-C."""
    import threading

    from flask import Flask

    from app.provisioner import background
    from app.starter import run

    root = Path(folder) if folder else Path(Flask("app").instance_path) / "starter"
    stop = threading.Event()
    background.stop_on_signals(stop)
    try:
        run.run(root, registry_address, network, lambda line: click.echo(line), stop)
    except (run.StarterError, OSError, RuntimeError) as exc:
        raise CLIError(f"starter: {exc}") from None


@main.command("nginx-config", context_settings=CONTEXT)
@click.option(
    "--listen",
    default="80",
    show_default=True,
    help="nginx's listen directive for dev URL hosts (e.g. `443 ssl`, then add certificates).",
)
@click.option(
    "--pycoderd",
    "address",
    default=None,
    help="Where nginx reaches pycoderd, host:port [default: CODER_HTTP_ADDRESS].",
)
def nginx_config(listen, address):
    """Print the nginx configuration that proxies dev URL traffic itself after asking pycoderd
    who may reach which workspace (README "Dev URLs behind nginx")."""
    from app.devurls import nginx

    try:
        settings = options.load()
    except options.OptionError as exc:
        raise option_error(exc, None) from None
    address = address or settings["http_address"]
    try:
        click.echo(nginx.render(settings, listen=listen, pycoderd=address), nl=False)
    except ValueError as exc:
        raise CLIError(f"nginx-config: {exc}") from None


@main.group(context_settings=CONTEXT)
def openapi():
    """The OpenAPI documents."""


@openapi.command("write")
@click.argument("directory", type=click.Path(file_okay=False))
def openapi_write(directory):
    """Write openapi-v0.json and openapi-v2.json into DIRECTORY."""
    app = build_app(database=False)
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    apis = app.extensions["flask-smorest"]["apis"]
    with app.app_context():
        for prefix, entry in apis.items():
            version = prefix.strip("_").lower()
            path = target / f"openapi-{version}.json"
            path.write_text(json.dumps(entry["ext_obj"].spec.to_dict(), indent=2) + "\n")
            click.echo(str(path))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
