"""The ``tradekit`` command line.

Heavy imports happen inside commands so ``tradekit --help`` stays fast. A
:class:`~tradekit.errors.TradekitError` prints one line (``ConfigError`` and ``DataError``
exit with status 2, others with 1); anything else shows its traceback.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from tradekit import __version__
from tradekit.cli_config import load_config, loaded_host, process_host

if TYPE_CHECKING:
    from tradekit.config import Settings

__all__ = ["cli", "main"]

CONFIG = click.Path(dir_okay=False, path_type=Path)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tradekit")
@click.option(
    "--log-level",
    default="INFO",
    show_default=True,
    type=click.Choice(["TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR"], False),
    help="Minimum level of log messages.",
)
@click.option("--log-json", is_flag=True, help="Log JSON lines (for containers).")
@click.pass_context
def cli(ctx: click.Context, log_level: str, log_json: bool) -> None:
    """Rule-based trading on Korean crypto exchanges: backtest, paper and live."""
    from tradekit.log import setup_logging

    setup_logging(log_level, json=log_json)
    ctx.ensure_object(dict)
    host = loaded_host()
    if host is not None:  # loaded before logging was set up: its errors are logged now
        from loguru import logger

        for error in host.errors:
            logger.warning("{}", error)


@cli.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def plugins_command(as_json: bool) -> None:
    """List installed plugins and what each registers."""
    host = process_host()
    info = host.describe()
    errors = [str(e) for e in host.errors]
    if as_json:
        click.echo(json.dumps({"plugins": info, "errors": errors}, indent=2))
        return
    for plugin in info:
        parts = [f"{kind}: {', '.join(names)}" for kind, names in plugin["registers"].items()]
        parts += [f"hook: {h}" for h in plugin["hooks"]]
        click.echo(
            f"{plugin['name']:<10} {plugin['distribution']} {plugin['version']:<8} "
            + ("; ".join(parts) or "-")
        )
    for error in errors:
        click.echo(f"error: {error}", err=True)


@cli.group("config")
def config_group() -> None:
    """Work with configuration files."""


@config_group.command("check")
@click.argument("config", type=CONFIG, envvar="TRADEKIT_CONFIG")
@click.option(
    "--hosted",
    is_flag=True,
    help="Check what 'tradekit run --hosted' would use: the environment's PORT, "
    "TRADEKIT_API_* and DATABASE_URL applied.",
)
def config_check(config: Path, hosted: bool) -> None:
    """Validate CONFIG and print the resolved settings (secrets masked).

    CONFIG defaults to $TRADEKIT_CONFIG.
    """
    import yaml

    from tradekit.config import masked

    settings = load_config(config)
    if hosted:
        settings = _hosted(settings)
    if settings.mode in ("paper", "live"):
        _check_runnable(settings)
    if settings.optimize is not None and settings.mode == "backtest":
        from tradekit.optimize.search import Search

        Search.check(config, process_host())  # what `tradekit optimize` would refuse
    click.echo(yaml.safe_dump(masked(settings), sort_keys=False, allow_unicode=True), nl=False)
    click.echo(f"# {config}: OK", err=True)


def _check_runnable(settings: Settings) -> None:
    """What ``run`` would refuse before trading: components that fail to build, a taken port.

    Raises:
        ConfigError: every problem found, each naming its key.
    """
    import socket

    from tradekit.errors import ConfigError

    problems: list[str] = []
    for key, component in [("strategy", settings.strategy)] + [
        (f"risk[{i}]", rule) for i, rule in enumerate(settings.risk)
    ]:
        try:
            component.build()
        except Exception as exc:  # a plugin's own check: say which block it was
            problems.append(f"{key}: {type(exc).__name__}: {exc}")
    exchange = settings.exchange
    if exchange is not None and hasattr(exchange.cls, "clock_for"):
        # A replay reads its candles when the bot starts (no network): read them now.
        from tradekit.errors import DataError
        from tradekit.interfaces import OwnClock

        try:
            built = exchange.build()
            if isinstance(built, OwnClock):
                built.clock_for(settings.markets, settings.timeframe)
        except DataError as exc:
            problems.append(str(exc))
    api = settings.api
    if api.enabled:
        with socket.socket(socket.AF_INET6 if ":" in api.host else socket.AF_INET) as probe:
            # As the server binds: only a socket already listening there is a conflict.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((api.host, api.port))
            except OSError as exc:
                problems.append(f"api.port: {api.host}:{api.port}: {exc.strerror or exc}")
    if problems:
        raise ConfigError(problems)


@cli.command("backtest")
@click.argument("config", type=CONFIG)
@click.option(
    "--output",
    "-o",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder for fills.csv, equity.csv, summary.json and report.html.",
)
@click.option(
    "--store",
    "store_results",
    is_flag=True,
    help="Also record the run, its fills and events in the database at storage.url.",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or summary table.")
def backtest_command(config: Path, output: Path, store_results: bool, quiet: bool) -> None:
    """Backtest the strategy in CONFIG over its candle files and write a report."""
    from tradekit.backtest import run_backtest, write_report

    settings = load_config(config)
    store = None
    if store_results:  # opened first: a database at the wrong schema fails before the run
        from tradekit.store import Store

        store = Store.open(settings.storage.url)
    host = process_host()  # the plugins load_config used: not loaded a second time
    if quiet or not _on_terminal():
        # Off a terminal the bar is never drawn (it is transient): no display to refresh.
        result = run_backtest(settings, host)
    else:
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        with Progress(
            SpinnerColumn(),
            TextColumn("[progress.description]{task.description}"),
            TextColumn("{task.completed:,} bars"),
            TimeElapsedColumn(),
            transient=True,
        ) as bar:
            task = bar.add_task("backtest", total=None)
            result = run_backtest(settings, host, progress=lambda n: bar.update(task, completed=n))
    summary = result.summary  # computed once for the files and the table
    paths = write_report(result, output, summary)
    if not quiet:
        _print_summary(summary)
    for path in paths:
        click.echo(f"wrote {path}")
    if store is not None:
        from tradekit.backtest import store_result
        from tradekit.store.engine import safe_url

        with store:
            run_id = store_result(store, settings, result)
        click.echo(f"stored run {run_id} in {safe_url(settings.storage.url)}")
    _skip_final_collection()


def _skip_final_collection() -> None:
    """Keep what is alive now out of the garbage collection Python runs as it exits.

    Everything is written and closed; tracing the hundreds of thousands of objects the
    imported libraries hold, only to free memory the process gives back anyway, took about a
    tenth of a second of a million-bar backtest. Exit handlers still run.
    """
    import gc

    gc.freeze()


@cli.command("run")
@click.argument("config", type=CONFIG, envvar="TRADEKIT_CONFIG")
@click.option(
    "--hosted",
    is_flag=True,
    help="As a container service: the API on 0.0.0.0:$PORT (TRADEKIT_API_HOST to change), "
    "which needs TRADEKIT_API_TOKEN; DATABASE_URL overrides storage.url.",
)
def run_command(config: Path, hosted: bool) -> None:
    """Run the bot in CONFIG (mode: paper or live) until Ctrl-C or SIGTERM.

    CONFIG defaults to $TRADEKIT_CONFIG. The control API listens on api.host:api.port
    (127.0.0.1:8000 by default).
    """
    import anyio

    from tradekit.runner.bot import Bot, run_until_stopped

    settings = load_config(config)
    if hosted:
        settings = _hosted(settings)
    bot = Bot(settings)
    try:
        anyio.run(run_until_stopped, bot)
    except BaseExceptionGroup as group:
        raise _single_cause(group) from None


def _on_terminal() -> bool:
    """Whether rich would draw a progress bar: its console (stdout) is a terminal."""
    from rich import get_console

    return get_console().is_terminal


def _hosted(settings: Settings) -> Settings:
    """``settings`` as ``--hosted`` runs them: API address, token and database from the env."""
    import os

    from tradekit.config import secret_values
    from tradekit.hosting import hosted_settings
    from tradekit.log import add_secrets

    settings = hosted_settings(settings, os.environ)
    add_secrets(secret_values(settings))  # the token may come from the environment
    return settings


def _single_cause(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The one error inside nested task-group exception groups, or the group itself."""
    leaves: list[BaseException] = []

    def walk(exc: BaseException) -> None:
        if isinstance(exc, BaseExceptionGroup):
            for sub in exc.exceptions:
                walk(sub)
        else:
            leaves.append(exc)

    walk(group)
    return leaves[0] if len(leaves) == 1 else group


def _print_summary(summary: dict[str, Any]) -> None:
    from tradekit.summary_text import print_summary

    print_summary(summary)


def _add_builtin_groups(group: click.Group) -> None:
    """Command groups that live beside the code they drive (imported without heavy deps)."""
    from tradekit.optimize.cli import optimize_command
    from tradekit.runner.status_cli import status_command
    from tradekit.store.cli import db

    group.add_command(db)
    group.add_command(status_command)
    group.add_command(optimize_command)


_add_builtin_groups(cli)


def _add_plugin_commands(group: click.Group) -> None:
    """Let plugins add commands (the ``register_commands`` hook)."""
    try:
        # Errors are logged by the group callback, once logging is set up.
        process_host(log_errors=False).pm.hook.register_commands(cli=group)
    except Exception as exc:  # a broken plugin must not break the CLI itself
        click.echo(f"warning: plugin commands unavailable: {exc}", err=True)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``tradekit`` script."""
    from tradekit.env_file import add_env_file_option
    from tradekit.errors import ConfigError, DataError, TradekitError

    _add_plugin_commands(cli)
    # `tradekit --env-file .env CMD` and `tradekit CMD --env-file .env`, plugin commands too.
    add_env_file_option(cli)
    try:
        cli.main(args=argv, prog_name="tradekit", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (ConfigError, DataError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except TradekitError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
