"""The ``tradekit optimize`` command (imports nothing heavy until it runs)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

__all__ = ["optimize_command"]


@click.command("optimize")
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--trials",
    "-n",
    type=click.IntRange(min=0),
    required=True,
    help="Trials this run adds (0: only write the files of the study in --storage).",
)
@click.option(
    "--jobs",
    "-j",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Processes running trials in parallel (each loads the candles once).",
)
@click.option(
    "--storage",
    metavar="URL",
    help="Database of the study, shared by every worker: sqlite:///study.db on one machine, "
    "postgresql+psycopg://user:pass@host/db across machines. Default: not kept.",
)
@click.option(
    "--study",
    metavar="NAME",
    help="Name of the study in --storage (default: the config file's name without .yaml).",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder for trials.csv, best.yaml and summary.json.",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or summary table.")
def optimize_command(
    config: Path,
    trials: int,
    jobs: int,
    storage: str | None,
    study: str | None,
    output: Path,
    quiet: bool,
) -> None:
    """Search the parameters in CONFIG's optimize: block for the best backtest.

    Trials run on the first train_fraction of the candles; the best is then backtested on
    the rest too (out-of-sample). Ctrl-C stops after the running trials and still writes the
    files.
    """
    from tradekit.optimize.runner import OptimizeRequest, optimize
    from tradekit.optimize.study import import_optuna

    import_optuna()  # before anything else: a missing extra is said first
    request = OptimizeRequest(config, output, trials, jobs, storage, study)
    if quiet:
        result = optimize(request)
    else:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

        best: list[float] = []
        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            "{task.fields[best]}",
            transient=True,
            # No refresh thread: worker processes are forked from this one, and a fork must
            # not copy a lock some other thread holds.
            auto_refresh=False,
        ) as bar:
            task = bar.add_task("trials", total=trials, best="")

            def advance(window: int, state: str, value: float | None) -> None:
                if state == "COMPLETE" and value is not None and (not best or value > best[0]):
                    best[:] = [value]
                shown = f"best {best[0]:.4g}" if best else ""
                bar.update(task, advance=1, best=shown)
                bar.refresh()

            def start(total: int) -> None:
                bar.update(task, total=total)
                bar.refresh()

            result = optimize(request, advance, start)
        _print_result(result.summary)
    for path in result.paths:
        click.echo(f"wrote {path}")
    if result.interrupted:
        click.echo("interrupted: the trials that finished are kept", err=True)
        sys.exit(130)
    if result.best is None:
        trials_info = result.summary["trials"]
        click.echo(
            f"error: no trial completed ({trials_info['pruned']} pruned, "
            f"{trials_info['failed']} failed; see the note column of trials.csv)",
            err=True,
        )
        sys.exit(1)


def _print_result(summary: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    best = summary["best"]
    if best is None:
        return
    params = ", ".join(f"{k}={v!r}" for k, v in best["params"].items())
    console.print(
        f"best trial {best['number']}: {summary['objective']} {best['value']:.4g} ({params})"
    )
    table = Table(title="In-sample against out-of-sample")
    table.add_column("figure")
    table.add_column("in-sample", justify="right")
    table.add_column("out-of-sample", justify="right")
    percent = {"total_return", "max_drawdown", "win_rate", "exposure", "benchmark_return"}
    for key, pair in summary["comparison"].items():
        cells = []
        for value in (pair["in_sample"], pair["out_of_sample"]):
            if isinstance(value, float):
                cells.append(f"{value:.2%}" if key in percent else f"{value:,.3f}")
            else:
                cells.append("-" if value is None else str(value))
        table.add_row(key, *cells)
    console.print(table)
