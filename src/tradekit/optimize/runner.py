"""``optimize(request)``: run a search in one or several processes and write its files."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from tradekit.errors import TradekitError
from tradekit.optimize.output import comparison, write_best, write_summary, write_trials
from tradekit.optimize.search import Search, Split, relative_data
from tradekit.optimize.study import (
    InProcess,
    ProcessPool,
    best_of,
    check_storage_url,
    gentle_interrupt,
    import_optuna,
    make_sampler,
    open_study,
    opened_storage,
    search_window,
    shown_storage,
    trials_of,
)

__all__ = ["OptimizeRequest", "OptimizeResult", "optimize"]

OnTrial = Callable[[int, str, float | None], None]
#: Seeds of parallel workers are this far apart, so they do not propose the same points.
_SEED_SPACING = 7919


@attrs.frozen
class OptimizeRequest:
    """What ``tradekit optimize`` was asked to do."""

    config: Path
    output: Path
    trials: int
    jobs: int = 1
    storage: str | None = None
    study: str | None = None


@attrs.frozen
class OptimizeResult:
    """What a search wrote; ``best`` is None when no trial completed."""

    paths: list[Path]
    summary: dict[str, Any]
    interrupted: bool
    best: dict[str, Any] | None


def optimize(
    request: OptimizeRequest,
    on_trial: OnTrial | None = None,
    on_start: Callable[[int], None] | None = None,
) -> OptimizeResult:
    """Search the config's ``optimize.space`` and write trials.csv, best.yaml, summary.json.

    ``on_start(total)`` is called once the config and candles are loaded, with the number of
    trials this run adds (trials x walk-forward windows); ``on_trial(window, state, value)``
    in this process after each of them. The first Ctrl-C lets the running trials finish and
    writes what finished; the result then says ``interrupted``.

    Raises:
        ConfigError: the config, its ``optimize:`` block or ``--storage`` is invalid.
        DataError: a candle file is malformed.
        OptunaMissing: Optuna is not installed.
    """
    import_optuna()
    if request.storage is not None:
        check_storage_url(request.storage)
    search = Search.load(request.config)
    base_name = request.study or request.config.stem
    windows = search.spec.windows
    names = (
        (base_name,) if windows == 1 else tuple(f"{base_name}-w{k}" for k in range(1, windows + 1))
    )
    on_trial = on_trial or (lambda _window, _state, _value: None)
    if on_start is not None:
        on_start(request.trials * windows)
    with opened_storage(request.storage) as storage:
        # All studies are opened first: one searched with another objective is refused
        # before any work.
        studies = [open_study(storage, name, search.spec) for name in names]
        for study in studies:
            study.sampler = make_sampler(search.spec, _seed(search, study, request.storage))
        counted: list[int] = []

        def counting(window: int, state: str, value: float | None) -> None:
            counted.append(window)
            on_trial(window, state, value)

        stop: list[bool] = []
        evaluator = InProcess(search) if request.jobs == 1 else ProcessPool(search, request.jobs)
        abandoned = False

        def stopped() -> bool:
            return bool(stop)

        try:
            with gentle_interrupt(lambda: stop.append(True)):
                for study, split in zip(studies, search.splits, strict=True):
                    trials = request.trials
                    search_window(study, search, split, trials, evaluator, counting, stopped)
        except KeyboardInterrupt:  # the second Ctrl-C: running trials were abandoned (failed)
            abandoned = True
        finally:
            evaluator.close(abandon=abandoned)
        interrupted = abandoned or bool(stop)
        result = _report(request, search, storage, names, len(counted), interrupted)
        if evaluator.broken:
            raise TradekitError(
                f"a worker process died ({evaluator.broken}); the trials that finished are "
                f"in {request.output}"
            )
        return result


def _seed(search: Search, study: Any, storage_url: str | None) -> int:
    """The sampler's seed: the config's, moved on by the trials the study already has.

    A second run against the same study proposes new points instead of the first run's.
    Runs sharing a database also mix in their process id, so two workers starting together
    on an empty study do not propose the same points.
    """
    seed = search.spec.seed + len(study.trials)
    if storage_url is not None:
        seed += _SEED_SPACING * os.getpid()
    return seed % 2**32


def _report(
    request: OptimizeRequest,
    search: Search,
    storage: Any,
    names: tuple[str, ...],
    this_run: int,
    interrupted: bool,
) -> OptimizeResult:
    optuna = import_optuna()
    spec = search.spec
    keys = [p.key for p in spec.params]
    rows: list[dict[str, Any]] = []
    per_window: list[dict[str, Any]] = []
    for name, split in zip(names, search.splits, strict=True):
        study = optuna.load_study(study_name=name, storage=storage)
        for trial in trials_of(study):
            rows.append(_row(split.window, trial))
        window = _evaluate(search, split, name, best_of(study))
        per_window.append(window)
    out = request.output
    out.mkdir(parents=True, exist_ok=True)
    paths = [write_trials(out / "trials.csv", rows, keys)]
    # With walk-forward, the last window's best: fitted on the most recent data.
    last = per_window[-1]
    if last["best"] is not None:
        info = {**last["best"], "study": last["study"], "objective": spec.objective}
        doc = relative_data(search.config_doc(last["best"]["params"]), search.path.parent, out)
        paths.append(write_best(out / "best.yaml", doc, str(request.config), info))
    states = [r["state"] for r in rows]
    summary: dict[str, Any] = {
        "config": str(request.config),
        "study": names[0] if len(names) == 1 else list(names),
        "storage": shown_storage(request.storage),
        "objective": spec.objective,
        "sampler": spec.sampler,
        "seed": spec.seed,
        "min_trades": spec.min_trades,
        "train_fraction": spec.train_fraction,
        "interrupted": interrupted,
        "trials": {
            "this_run": this_run,
            "study": len(rows),
            "complete": states.count("COMPLETE"),
            "pruned": states.count("PRUNED"),
            "failed": states.count("FAIL"),
        },
        "best": last["best"],
        "in_sample": last["in_sample"],
        "out_of_sample": last["out_of_sample"],
        "comparison": last["comparison"],
    }
    if len(per_window) > 1:
        summary["walk_forward"] = per_window
    paths.append(write_summary(out / "summary.json", summary))
    return OptimizeResult(paths, summary, interrupted, last["best"])


def _row(window: int, trial: Any) -> dict[str, Any]:
    duration = trial.duration.total_seconds() if trial.duration is not None else None
    note = trial.user_attrs.get("pruned") or trial.user_attrs.get("error") or ""
    return {
        "window": window,
        "number": trial.number,
        "state": trial.state.name,
        "value": trial.value,
        "trades": trial.user_attrs.get("trades"),
        "duration_s": None if duration is None else round(duration, 4),
        "worker": trial.user_attrs.get("worker"),
        "note": note,
        **trial.params,
    }


def _evaluate(search: Search, split: Split, name: str, best: Any) -> dict[str, Any]:
    """The best trial of one window, backtested in-sample and out-of-sample."""
    window: dict[str, Any] = {
        "window": split.window,
        "study": name,
        "best": None,
        "in_sample": None,
        "out_of_sample": None,
    }
    if best is not None:
        settings = search.settings_for(best.params)
        window["best"] = {"number": best.number, "value": best.value, "params": best.params}
        window["in_sample"] = search.run(settings, split.train, benchmark=True)
        if split.test:
            window["out_of_sample"] = search.run(settings, split.test, benchmark=True)
    window["comparison"] = comparison(window["in_sample"], window["out_of_sample"])
    return window
