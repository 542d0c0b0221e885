"""Configuration: YAML -> ``${ENV}`` substitution -> cattrs -> frozen attrs :class:`Settings`.

Every problem is collected and reported at once, each with its path and the offending value
(``strategy.lookback: expected int, got 'x'``); unknown keys are errors with a "did you mean"
hint. Each component block (``{use: name, ...}``) is structured into that plugin's own
``Config`` class. Secret fields (:func:`~tradekit.params.secret_field`) are masked whenever
the settings are shown.

Where each part lives:

* :mod:`~tradekit.config.settings`: the settings classes (the schema);
* :mod:`~tradekit.config.convert`: the strict converter;
* :mod:`~tradekit.config.problems`: the error text;
* :mod:`~tradekit.config.env`: ``${ENV}`` substitution;
* :mod:`~tradekit.config.loading`: reading a file and loading the components it names;
* :mod:`~tradekit.config.masking`: showing settings without their secrets.

Every public name is importable from ``tradekit.config`` as before, and so are the pieces a
plugin's ``Config`` class is built from (:mod:`tradekit.params`).
"""

from __future__ import annotations

from tradekit.config.convert import structure_config
from tradekit.config.env import substitute_env
from tradekit.config.loading import load_settings, parse_settings, storage_url_problem
from tradekit.config.masking import config_digest, masked, secret_values
from tradekit.config.settings import (
    DEFAULT_RISK,
    AccountSettings,
    ApiSettings,
    BacktestSettings,
    Component,
    PaperSettings,
    Settings,
    StorageSettings,
)
from tradekit.errors import ConfigError
from tradekit.params import MASK, ConfigValueError, check_range, is_secret, secret_field

__all__ = [
    "DEFAULT_RISK",
    "MASK",
    "AccountSettings",
    "ApiSettings",
    "BacktestSettings",
    "Component",
    "ConfigError",
    "ConfigValueError",
    "PaperSettings",
    "Settings",
    "StorageSettings",
    "check_range",
    "config_digest",
    "is_secret",
    "load_settings",
    "masked",
    "parse_settings",
    "secret_field",
    "secret_values",
    "storage_url_problem",
    "structure_config",
    "substitute_env",
]
