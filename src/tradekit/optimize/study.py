"""Optuna studies: storage, samplers, and trials evaluated in one or many processes.

This process owns the study: it asks the sampler for each trial's parameters and tells it
the result. The backtests run here (``--jobs 1``) or in a pool of worker processes, each
loading the candles once. The study lives in a storage every run can reach: a database URL
(SQLite on one machine, PostgreSQL across machines) or memory. Optuna is imported here only,
so the rest of tradekit works without it.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import attrs

from tradekit.errors import ConfigError, StorageError, TradekitError
from tradekit.optimize.search import Search, Split
from tradekit.optimize.spec import Choice, FloatRange, IntRange, OptimizeSpec

__all__ = [
    "FINISHED",
    "Evaluation",
    "InProcess",
    "OptunaMissing",
    "ProcessPool",
    "conclude",
    "evaluate",
    "import_optuna",
    "make_sampler",
    "open_study",
    "opened_storage",
    "search_window",
    "shown_storage",
]

INSTALL_HINT = "pip install 'tradekit-core[optimize]' (or: uv sync --extra optimize)"
#: Trial states written to trials.csv: every trial that is over.
FINISHED = ("COMPLETE", "PRUNED", "FAIL")


class OptunaMissing(TradekitError):
    """``tradekit optimize`` needs Optuna, which is an optional extra."""


def import_optuna() -> ModuleType:
    """Optuna, with its per-trial log lines turned down (the progress bar shows them).

    Raises:
        OptunaMissing: it is not installed; the message says how to install it.
    """
    try:
        import optuna
    except ImportError:
        raise OptunaMissing(
            f"tradekit optimize needs Optuna, which is not installed: {INSTALL_HINT}"
        ) from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


@contextlib.contextmanager
def opened_storage(url: str | None) -> Iterator[Any]:
    """The study storage at ``url`` (a database), or in memory; its connections closed after."""
    optuna = import_optuna()
    if url is None:
        yield optuna.storages.InMemoryStorage()
        return
    storage = _rdb_storage(optuna, url)
    try:
        yield storage
    finally:
        storage.engine.dispose()


def _rdb_storage(optuna: ModuleType, url: str, attempts: int = 5) -> Any:
    """Optuna's database storage; its tables are created on first use.

    Workers started together on an empty database race to create the tables: the loser's
    CREATE fails, and trying again finds them.

    Raises:
        StorageError: the database cannot be reached (the message hides the password).
    """
    from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

    for attempt in range(attempts):
        try:
            return optuna.storages.RDBStorage(url)
        except (IntegrityError, ProgrammingError):
            if attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1))
        except OperationalError as exc:
            reason = str(exc.orig or exc).strip().splitlines()[0]
            raise StorageError(
                f"cannot open the study storage {shown_storage(url)}: {reason}"
            ) from None
    raise AssertionError("unreachable")


def shown_storage(url: str | None) -> str:
    """For messages and summary.json: the URL without its password, or ``memory``."""
    if url is None:
        return "memory"
    from tradekit.store.engine import safe_url

    return str(safe_url(url))


def check_storage_url(url: str) -> None:
    """Refuse a storage URL that cannot work, naming ``--storage`` (exit 2).

    Raises:
        ConfigError: the URL does not parse, names an unknown database or a missing driver.
    """
    from tradekit.config import storage_url_problem

    problem = storage_url_problem(url)
    if problem is not None:
        raise ConfigError([f"--storage: {problem}"])


def make_sampler(spec: OptimizeSpec, seed: int) -> Any:
    """The configured sampler, seeded (grid: over the space's grid points)."""
    optuna = import_optuna()
    if spec.sampler == "grid":

        class Grid(optuna.samplers.GridSampler):  # type: ignore[misc,name-defined]
            # Optuna's grid sampler stops the study itself once every point is done, which
            # only works inside study.optimize; the search loop stops asking instead.
            def after_trial(self, *args: Any) -> None:
                pass

        return Grid(spec.grid_space(), seed=seed)
    if spec.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def open_study(storage: Any, name: str, spec: OptimizeSpec) -> Any:
    """Create the study, or join it if it exists; it must be searching the same objective.

    Raises:
        ConfigError: the stored study was created for another objective or split.
    """
    optuna = import_optuna()
    study = optuna.create_study(
        storage=storage,
        study_name=name,
        direction="maximize",
        pruner=optuna.pruners.NopPruner(),
        load_if_exists=True,
    )
    wanted = {"objective": spec.objective, "train_fraction": spec.train_fraction}
    stored = study.user_attrs
    if not stored.get("tradekit"):
        for key, value in {**wanted, "tradekit": True}.items():
            study.set_user_attr(key, value)
    else:
        for key, value in wanted.items():
            if stored.get(key) != value:
                raise ConfigError(
                    [
                        f"optimize.{key}: study {name!r} was searched with {key} "
                        f"{stored.get(key)!r}, this config says {value!r} (use another --study)"
                    ]
                )
    return study


def suggest(trial: Any, spec: OptimizeSpec) -> dict[str, Any]:
    """The trial's value for every parameter of the space."""
    values: dict[str, Any] = {}
    for p in spec.params:
        if isinstance(p, IntRange):
            values[p.key] = trial.suggest_int(p.key, p.low, p.high, step=p.step)
        elif isinstance(p, FloatRange):
            values[p.key] = trial.suggest_float(p.key, p.low, p.high, step=p.step)
        elif isinstance(p, Choice):
            values[p.key] = trial.suggest_categorical(p.key, list(p.values))
    return values


@attrs.frozen
class Evaluation:
    """What a backtest of one trial's parameters gave: figures, or why there are none."""

    metrics: dict[str, Any] | None = None
    refused: str | None = None  # the config refused the combination
    error: str | None = None  # the backtest raised
    #: ``host:pid`` of the process that ran the backtest.
    worker: str = attrs.field(factory=lambda: f"{socket.gethostname()}:{os.getpid()}")


def evaluate(search: Search, window: int, values: Mapping[str, Any]) -> Evaluation:
    """Backtest ``values`` over the in-sample bars of ``window``."""
    try:
        settings = search.settings_for(values)
    except ConfigError as exc:
        return Evaluation(refused="; ".join(exc.problems))
    try:
        metrics = search.run(settings, search.splits[window - 1].train)
    except Exception as exc:  # a strategy failing on some parameters fails that trial only
        return Evaluation(error=f"{type(exc).__name__}: {exc}")
    return Evaluation(metrics=metrics)


def conclude(study: Any, trial: Any, spec: OptimizeSpec, result: Evaluation) -> tuple[str, Any]:
    """Tell the study how the trial went; returns its state name and value.

    Fewer than ``min_trades`` round trips, or an undefined figure (a Sharpe ratio without any
    variation), prunes the trial; a refused combination or an error fails it.
    """
    states = import_optuna().trial.TrialState
    trial.set_user_attr("worker", result.worker)
    if result.metrics is None:
        trial.set_user_attr("error", result.refused or result.error)
        study.tell(trial, state=states.FAIL)
        return "FAIL", None
    metrics = result.metrics
    trial.set_user_attr("trades", metrics["trades"])
    value = metrics[spec.objective]
    reason = None
    if metrics["trades"] < spec.min_trades:
        reason = f"{metrics['trades']} trades, fewer than min_trades {spec.min_trades}"
    elif value is None or not math.isfinite(value):
        reason = f"{spec.objective} is undefined ({value})"
    if reason is not None:
        trial.set_user_attr("pruned", reason)
        study.tell(trial, state=states.PRUNED)
        return "PRUNED", None
    study.tell(trial, float(value))
    return "COMPLETE", float(value)


# -- running ------------------------------------------------------------------------------

_WORKER: list[Search] = []


def init_worker(source: Search | Path) -> None:
    """Initializer of a worker process: the search (forked) or its config to load (spawned)."""
    # Ctrl-C reaches the whole process group: the parent decides, workers finish their trial.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if isinstance(source, Path):
        from tradekit.log import setup_logging

        setup_logging("ERROR")  # the parent has already said what loading the candles found
        source = Search.load(source)
    _WORKER[:] = [source]


def evaluate_in_worker(window: int, values: dict[str, Any]) -> Evaluation:
    """:func:`evaluate` with the worker's own copy of the candles."""
    return evaluate(_WORKER[0], window, values)


class InProcess:
    """Runs each backtest right away, in this process."""

    capacity = 1
    broken: str | None = None

    def __init__(self, search: Search) -> None:
        self._search = search
        self._done: list[tuple[int, Evaluation]] = []

    def submit(self, number: int, window: int, values: dict[str, Any]) -> None:
        """Backtest now; the result is collected by :meth:`results`."""
        self._done.append((number, evaluate(self._search, window, values)))

    def results(self, timeout: float) -> list[tuple[int, Evaluation]]:
        """The results ready so far."""
        done, self._done = self._done, []
        return done

    def close(self, abandon: bool = False) -> None:
        """Nothing to stop."""


class ProcessPool:
    """Runs backtests in ``jobs`` worker processes, each holding the candles in memory.

    ``broken`` says why when a worker died (killed, out of memory): its trial and those queued
    behind it fail, and no more are taken.
    """

    def __init__(self, search: Search, jobs: int) -> None:
        import multiprocessing
        import queue
        from concurrent.futures import ProcessPoolExecutor

        # Forked where the system can: the workers start at once with the candles already in
        # memory, shared with this process until written. Elsewhere each spawned worker
        # loads them once. Either way nothing else is shared: the study stays here.
        methods = multiprocessing.get_all_start_methods()
        method = "fork" if "fork" in methods else "spawn"
        source: Search | Path = search if method == "fork" else search.path
        # Two trials per worker handed out: while a worker runs one, its next waits in the
        # queue, so no worker sits idle while this process asks the sampler for a point
        # (several ms a trial, as long as a quarter of a backtest): 1.66x with 2 workers
        # instead of 1.08x.
        self.capacity = 2 * jobs
        self.broken: str | None = None
        self._ready: queue.Queue[tuple[int, Evaluation]] = queue.Queue()
        self._executor = ProcessPoolExecutor(
            jobs,
            mp_context=multiprocessing.get_context(method),
            initializer=init_worker,
            initargs=(source,),
        )

    def submit(self, number: int, window: int, values: dict[str, Any]) -> None:
        """Queue a backtest; its result arrives through :meth:`results`."""
        from concurrent.futures import BrokenExecutor, Future

        def done(future: Future[Evaluation]) -> None:
            error = None if future.cancelled() else future.exception()
            if future.cancelled() or error is not None:
                reason = "cancelled" if error is None else f"{type(error).__name__}: {error}"
                if isinstance(error, BrokenExecutor):
                    self.broken = reason
                self._ready.put((number, Evaluation(error=reason)))
            else:
                self._ready.put((number, future.result()))

        try:
            future = self._executor.submit(evaluate_in_worker, window, values)
        except BrokenExecutor as exc:
            self.broken = f"{type(exc).__name__}: {exc}"
            self._ready.put((number, Evaluation(error=self.broken)))
            return
        future.add_done_callback(done)

    def results(self, timeout: float) -> list[tuple[int, Evaluation]]:
        """The results ready within ``timeout`` seconds (at least one if any arrives)."""
        import queue

        try:
            done = [self._ready.get(timeout=timeout)]
        except queue.Empty:
            return []
        while True:
            try:
                done.append(self._ready.get_nowait())
            except queue.Empty:
                return done

    def close(self, abandon: bool = False) -> None:
        """Stop the workers: after their work, or at once when ``abandon``."""
        if not abandon:
            self._executor.shutdown(wait=True)
            return
        terminate = getattr(self._executor, "terminate_workers", None)
        if terminate is not None:  # Python 3.14
            terminate()
            return
        # Before 3.14, the executor's own process table (shutdown empties it: read it first).
        processes = list((getattr(self._executor, "_processes", None) or {}).values())
        self._executor.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.terminate()
            process.join()


def grid_started(study: Any) -> int:
    """How many grid points have a trial, finished or running."""
    return len(
        {
            t.system_attrs["grid_id"]
            for t in study.get_trials(deepcopy=False)
            if "grid_id" in t.system_attrs
        }
    )


def search_window(
    study: Any,
    search: Search,
    split: Split,
    trials: int,
    evaluator: InProcess | ProcessPool,
    on_trial: Callable[[int, str, float | None], None],
    should_stop: Callable[[], bool],
) -> None:
    """Run up to ``trials`` trials of one window, as many at a time as ``evaluator`` takes.

    The study proposes the parameters here (ask) and learns each result here (tell); the
    evaluator only backtests. A KeyboardInterrupt fails the trials still running.
    """
    spec = search.spec
    grid_size = spec.grid_size() if spec.sampler == "grid" else None
    pending: dict[int, Any] = {}
    asked = 0
    try:
        while True:
            while (
                asked < trials
                and len(pending) < evaluator.capacity
                and not should_stop()
                and not evaluator.broken
                and (grid_size is None or grid_started(study) < grid_size)
            ):
                trial = study.ask()
                values = suggest(trial, spec)
                pending[trial.number] = trial
                asked += 1
                evaluator.submit(trial.number, split.window, values)
            if not pending:
                return
            for number, result in evaluator.results(timeout=0.2):
                trial = pending.pop(number)
                state, value = conclude(study, trial, spec, result)
                on_trial(split.window, state, value)
    except KeyboardInterrupt:
        states = import_optuna().trial.TrialState
        for trial in pending.values():
            trial.set_user_attr("error", "interrupted")
            study.tell(trial, state=states.FAIL)
        raise


@contextlib.contextmanager
def gentle_interrupt(stop: Callable[[], None]) -> Iterator[None]:
    """The first Ctrl-C calls ``stop`` (running trials finish); a second one interrupts."""
    pressed: list[int] = []

    def handler(signum: int, frame: Any) -> None:
        if pressed:
            raise KeyboardInterrupt
        pressed.append(signum)
        stop()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def trials_of(study: Any) -> list[Any]:
    """Every trial of the study that is over (complete, pruned or failed), by number."""
    optuna = import_optuna()
    states = tuple(getattr(optuna.trial.TrialState, s) for s in FINISHED)
    return sorted(study.get_trials(deepcopy=False, states=states), key=lambda t: t.number)


def best_of(study: Any) -> Any | None:
    """The best complete trial, or None when no trial completed."""
    try:
        return study.best_trial
    except ValueError:
        return None
