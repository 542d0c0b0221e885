"""``tradekit optimize`` run as a user would, on a slice of the real BTC/KRW hours."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml
from optimize_helpers import DEFAULT_OPTIMIZE, popen_tradekit, tradekit

ConfigWriter = Callable[..., Path]


@contextlib.contextmanager
def stored_study(name: str, url: str) -> Iterator[Any]:
    """The study in database ``url``; its connections closed afterwards."""
    storage = optuna.storages.RDBStorage(url)
    try:
        yield optuna.load_study(study_name=name, storage=storage)
    finally:
        storage.engine.dispose()


def read_trials(folder: Path) -> list[dict[str, str]]:
    with (folder / "trials.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def read_summary(folder: Path) -> dict[str, Any]:
    return dict(json.loads((folder / "summary.json").read_text(encoding="utf-8")))


def params_of(row: dict[str, str]) -> tuple[str, str, str]:
    return (row["strategy.lookback"], row["strategy.stop_loss"], row["strategy.volume_factor"])


def test_outputs_and_best_yaml_reproduce_the_best_trial(
    write_config: ConfigWriter, tmp_path: Path, candles: Path
) -> None:
    config = write_config()
    out = tmp_path / "out"
    done = tradekit("optimize", config, "--trials", "6", "--output", out, "--quiet")
    assert done.returncode == 0, done.stderr

    rows = read_trials(out)
    assert [int(r["number"]) for r in rows] == list(range(6))
    assert {r["state"] for r in rows} == {"COMPLETE"}
    assert len({r["worker"] for r in rows}) == 1  # one process: this run's
    for row in rows:
        assert 10 <= int(row["strategy.lookback"]) <= 40
        assert 0.01 <= float(row["strategy.stop_loss"]) <= 0.03
        assert float(row["strategy.volume_factor"]) in (1.2, 1.5, 2.0)
        assert int(row["trades"]) >= 1

    summary = read_summary(out)
    best = summary["best"]
    values = {int(r["number"]): float(r["value"]) for r in rows}
    assert best["value"] == max(values.values()) == values[best["number"]]
    assert summary["trials"] == {
        "this_run": 6,
        "study": 6,
        "complete": 6,
        "pruned": 0,
        "failed": 0,
    }
    ins, oos = summary["in_sample"], summary["out_of_sample"]
    # 70% of the bars in-sample, the rest out-of-sample, back to back.
    assert ins["bars"] + oos["bars"] == 2400
    assert ins["bars"] == 1680
    assert oos["start_time_ms"] == ins["end_time_ms"] + 3_600_000
    assert ins["sharpe"] == best["value"]
    assert summary["comparison"]["sharpe"] == {
        "in_sample": ins["sharpe"],
        "out_of_sample": oos["sharpe"],
    }

    best_config = yaml.safe_load((out / "best.yaml").read_text(encoding="utf-8"))
    assert "optimize" not in best_config
    assert best_config["strategy"]["lookback"] == best["params"]["strategy.lookback"]
    assert best_config["strategy"]["stop_loss"] == best["params"]["strategy.stop_loss"]
    assert best_config["strategy"]["volume_factor"] == best["params"]["strategy.volume_factor"]
    assert best_config["risk"] == yaml.safe_load(config.read_text())["risk"]

    # best.yaml is a complete backtest config, runnable from anywhere.
    run = tradekit("backtest", out / "best.yaml", "--output", tmp_path / "bt", "--quiet")
    assert run.returncode == 0, run.stderr
    full = read_summary(tmp_path / "bt")
    assert full["bars"] == 2400

    # Over the in-sample hours alone it gives the best trial's figure exactly.
    rows_in = candles.read_text(encoding="utf-8").splitlines(keepends=True)[: 1 + ins["bars"]]
    assert rows_in[-1].startswith(str(ins["end_time_ms"]))
    train_csv = tmp_path / "train.csv"
    train_csv.write_text("".join(rows_in), encoding="utf-8")
    best_config["backtest"]["data"] = {"KRW-BTC": str(train_csv)}
    train_config = tmp_path / "best-train.yaml"
    train_config.write_text(yaml.safe_dump(best_config), encoding="utf-8")
    run = tradekit("backtest", train_config, "--output", tmp_path / "bt-train", "--quiet")
    assert run.returncode == 0, run.stderr
    in_sample_backtest = read_summary(tmp_path / "bt-train")
    assert in_sample_backtest["sharpe"] == best["value"]
    assert in_sample_backtest["benchmark_return"] == ins["benchmark_return"] is not None


def test_same_seed_same_trials_and_min_trades_prunes(
    write_config: ConfigWriter, tmp_path: Path
) -> None:
    free = write_config({**DEFAULT_OPTIMIZE, "min_trades": 0})
    first = tradekit("optimize", free, "--trials", "8", "--output", tmp_path / "a", "-q")
    assert first.returncode == 0, first.stderr
    again = tradekit("optimize", free, "--trials", "8", "--output", tmp_path / "b", "-q")
    assert again.returncode == 0, again.stderr
    rows = read_trials(tmp_path / "a")
    trades = [int(r["trades"]) for r in rows]
    strip = ("duration_s", "worker")
    assert [{k: v for k, v in r.items() if k not in strip} for r in rows] == [
        {k: v for k, v in r.items() if k not in strip} for r in read_trials(tmp_path / "b")
    ]
    assert len(set(trades)) > 1, "the trials should differ in trades to test pruning"

    # The same seed proposes the same points: with a threshold between their trade counts,
    # exactly the trials under it are pruned.
    threshold = sorted(trades)[len(trades) // 2]
    strict = write_config({**DEFAULT_OPTIMIZE, "min_trades": threshold}, name="strict.yaml")
    done = tradekit("optimize", strict, "--trials", "8", "--output", tmp_path / "c", "-q")
    assert done.returncode == 0, done.stderr
    pruned_rows = read_trials(tmp_path / "c")
    assert [params_of(r) for r in pruned_rows] == [params_of(r) for r in rows]
    states = [r["state"] for r in pruned_rows]
    assert states == ["PRUNED" if t < threshold else "COMPLETE" for t in trades]
    for row in pruned_rows:
        if row["state"] == "PRUNED":
            assert row["value"] == ""
            assert f"fewer than min_trades {threshold}" in row["note"]
    summary = read_summary(tmp_path / "c")
    assert summary["trials"]["pruned"] == states.count("PRUNED") > 0
    assert summary["best"]["number"] in {
        int(r["number"]) for r in pruned_rows if r["state"] == "COMPLETE"
    }


def test_every_trial_pruned_writes_the_trials_and_exits_1(
    write_config: ConfigWriter, tmp_path: Path
) -> None:
    config = write_config({**DEFAULT_OPTIMIZE, "min_trades": 100_000})
    done = tradekit("optimize", config, "--trials", "3", "--output", tmp_path / "out", "-q")
    assert done.returncode == 1
    assert "no trial completed (3 pruned, 0 failed" in done.stderr
    assert [r["state"] for r in read_trials(tmp_path / "out")] == ["PRUNED"] * 3
    assert not (tmp_path / "out" / "best.yaml").exists()
    assert read_summary(tmp_path / "out")["best"] is None


def test_grid_sampler_visits_every_point_once(write_config: ConfigWriter, tmp_path: Path) -> None:
    config = write_config(
        {
            "objective": "total_return",
            "sampler": "grid",
            "space": {
                "strategy.lookback": {"int": [10, 30], "step": 10},
                "strategy.stop_loss": {"float": [0.01, 0.02], "step": 0.01},
            },
        }
    )
    done = tradekit("optimize", config, "--trials", "20", "--output", tmp_path / "out", "-q")
    assert done.returncode == 0, done.stderr
    rows = read_trials(tmp_path / "out")
    points = sorted((int(r["strategy.lookback"]), float(r["strategy.stop_loss"])) for r in rows)
    assert points == [(lb, sl) for lb in (10, 20, 30) for sl in (0.01, 0.02)]
    summary = read_summary(tmp_path / "out")
    assert summary["sampler"] == "grid"
    assert summary["in_sample"]["total_return"] == summary["best"]["value"]


def test_two_jobs_share_one_study(write_config: ConfigWriter, tmp_path: Path) -> None:
    config = write_config()
    done = tradekit("optimize", config, "--trials", "6", "--jobs", "2", "--output", tmp_path / "o")
    assert done.returncode == 0, done.stderr
    rows = read_trials(tmp_path / "o")
    assert [int(r["number"]) for r in rows] == list(range(6))
    assert {r["state"] for r in rows} == {"COMPLETE"}
    # Differently seeded workers: no point proposed twice.
    assert len({params_of(r) for r in rows}) == 6
    # Backtests ran in two worker processes, both other than this one's.
    assert len({r["worker"] for r in rows}) == 2
    summary = read_summary(tmp_path / "o")
    # Without --quiet: the best trial and the in-sample against out-of-sample table.
    best = summary["best"]
    assert f"best trial {best['number']}: sharpe {best['value']:.4g}" in done.stdout
    assert "In-sample against out-of-sample" in done.stdout
    assert f"{summary['in_sample']['trades']}" in done.stdout
    assert summary["storage"] == "memory"
    assert summary["trials"]["this_run"] == 6


def test_sqlite_storage_resumes_the_study(write_config: ConfigWriter, tmp_path: Path) -> None:
    config = write_config()
    url = f"sqlite:///{tmp_path / 'study.db'}"
    args = ("--storage", url, "--study", "btc")
    first = tradekit("optimize", config, "--trials", "3", *args, "--output", tmp_path / "a", "-q")
    assert first.returncode == 0, first.stderr
    second = tradekit("optimize", config, "--trials", "4", *args, "--output", tmp_path / "b", "-q")
    assert second.returncode == 0, second.stderr

    before, after = read_trials(tmp_path / "a"), read_trials(tmp_path / "b")
    assert [int(r["number"]) for r in after] == list(range(7))
    assert after[:3] == before
    # The second run proposes new points rather than the first run's again.
    assert params_of(after[3]) != params_of(after[0])
    summary = read_summary(tmp_path / "b")
    assert summary["trials"]["this_run"] == 4
    assert summary["trials"]["study"] == 7
    with stored_study("btc", url) as study:
        assert len(study.trials) == 7
    # --trials 0 only writes the files of the stored study.
    files = tradekit("optimize", config, "--trials", "0", *args, "--output", tmp_path / "c", "-q")
    assert files.returncode == 0, files.stderr
    assert read_trials(tmp_path / "c") == after
    assert read_summary(tmp_path / "c")["trials"]["this_run"] == 0
    assert read_summary(tmp_path / "c")["best"] == read_summary(tmp_path / "b")["best"]


def test_a_study_searched_for_another_objective_is_refused(
    write_config: ConfigWriter, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'study.db'}"
    first = tradekit(
        "optimize", write_config(), "--trials", "1", "--storage", url, "-o", tmp_path / "a", "-q"
    )
    assert first.returncode == 0, first.stderr
    other = write_config({**DEFAULT_OPTIMIZE, "objective": "calmar"})
    done = tradekit("optimize", other, "--trials", "1", "--storage", url, "-o", tmp_path / "b")
    assert done.returncode == 2
    assert "optimize.objective: study 'search' was searched with objective 'sharpe'" in (
        done.stderr
    )


@pytest.mark.postgres
def test_two_workers_on_postgresql_add_up(
    write_config: ConfigWriter, tmp_path: Path, postgres_url: str
) -> None:
    config = write_config()
    args = ("--trials", "4", "--storage", postgres_url, "--study", "shared", "--quiet")
    workers = [
        popen_tradekit("optimize", config, *args, "--output", tmp_path / f"w{i}") for i in range(2)
    ]
    for worker in workers:
        _out, err = worker.communicate(timeout=300)
        assert worker.returncode == 0, err
    with stored_study("shared", postgres_url) as study:
        finished = [t for t in study.trials if t.state.is_finished()]
    assert len(finished) == 8
    assert sorted(t.number for t in finished) == list(range(8))
    assert len({t.user_attrs["worker"] for t in finished}) == 2
    # Whichever finished last saw every trial of both.
    counts = [len(read_trials(tmp_path / f"w{i}")) for i in range(2)]
    assert max(counts) == 8
    assert all(read_summary(tmp_path / f"w{i}")["trials"]["this_run"] == 4 for i in range(2))
    assert read_summary(tmp_path / "w0")["storage"].startswith("postgresql+psycopg://")


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_ctrl_c_keeps_the_finished_trials(
    write_config: ConfigWriter, tmp_path: Path, jobs: str
) -> None:
    config = write_config()
    url = f"sqlite:///{tmp_path / 'study.db'}"
    proc = popen_tradekit(
        "optimize", config, "--trials", "100000", "--jobs", jobs, "--storage", url,
        "--output", tmp_path / "out", "--quiet",
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        finished = 0
        while finished < 3 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.5)
            try:
                with stored_study("search", url) as study:
                    finished = sum(t.state.is_finished() for t in study.trials)
            except KeyError:  # not created yet
                continue
        assert finished >= 3, "no trials finished in time"
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted: the trials that finished are kept" in err
    rows = read_trials(tmp_path / "out")
    assert len(rows) >= 3
    assert {r["state"] for r in rows} <= {"COMPLETE", "PRUNED", "FAIL"}
    summary = read_summary(tmp_path / "out")
    assert summary["interrupted"] is True
    assert summary["trials"]["study"] == len(rows)
    assert (tmp_path / "out" / "best.yaml").exists()


def test_walk_forward_reports_each_window(write_config: ConfigWriter, tmp_path: Path) -> None:
    config = write_config({**DEFAULT_OPTIMIZE, "walk_forward": {"windows": 2}})
    done = tradekit("optimize", config, "--trials", "3", "--output", tmp_path / "out", "-q")
    assert done.returncode == 0, done.stderr
    rows = read_trials(tmp_path / "out")
    assert [(r["window"], r["number"]) for r in rows] == [
        (w, n) for w in ("1", "2") for n in ("0", "1", "2")
    ]
    summary = read_summary(tmp_path / "out")
    windows = summary["walk_forward"]
    assert [w["window"] for w in windows] == [1, 2]
    assert [w["study"] for w in windows] == ["search-w1", "search-w2"]
    # Two windows of 1200 hours, each 70% in-sample, back to back.
    assert [(w["in_sample"]["bars"], w["out_of_sample"]["bars"]) for w in windows] == [
        (840, 360),
        (840, 360),
    ]
    assert windows[1]["in_sample"]["start_time_ms"] == (
        windows[0]["out_of_sample"]["end_time_ms"] + 3_600_000
    )
    # best.yaml holds the last window's best (fitted on the most recent hours).
    assert summary["best"] == windows[1]["best"]
    best_config = yaml.safe_load((tmp_path / "out" / "best.yaml").read_text(encoding="utf-8"))
    assert best_config["strategy"]["lookback"] == windows[1]["best"]["params"]["strategy.lookback"]


def _children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads /proc (Linux)")
def test_a_worker_killed_fails_its_trial_and_the_run_stops_with_the_files(
    write_config: ConfigWriter, tmp_path: Path
) -> None:
    config = write_config()
    url = f"sqlite:///{tmp_path / 'study.db'}"
    proc = popen_tradekit(
        "optimize", config, "--trials", "100000", "--jobs", "2", "--storage", url,
        "--output", tmp_path / "out", "--quiet",
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        finished = 0
        while finished < 2 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.5)
            try:
                with stored_study("search", url) as study:
                    finished = sum(t.state.is_finished() for t in study.trials)
            except KeyError:  # not created yet
                continue
        assert finished >= 2, "no trials finished in time"
        workers = _children(proc.pid)
        assert len(workers) == 2, workers
        os.kill(workers[0], signal.SIGKILL)
        _out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, err
    assert "a worker process died" in err
    rows = read_trials(tmp_path / "out")
    assert len(rows) >= 2
    assert "FAIL" in {r["state"] for r in rows}
    with stored_study("search", url) as study:
        # Nothing is left running: the lost trials were recorded as failed.
        assert {t.state.name for t in study.trials} <= {"COMPLETE", "PRUNED", "FAIL"}
        assert len(study.trials) == len(rows)
