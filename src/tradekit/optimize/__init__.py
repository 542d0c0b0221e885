"""Parameter search over backtests with Optuna (``tradekit optimize``).

The search space and objective live in the config's ``optimize:`` block
(:mod:`tradekit.optimize.spec`); :func:`tradekit.optimize.runner.optimize` runs the trials in
one or several processes against a shared study and writes ``trials.csv``, ``best.yaml`` and
``summary.json``. Optuna is an optional dependency, imported only when a search runs.
"""
