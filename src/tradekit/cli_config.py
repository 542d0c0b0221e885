"""What the commands share: the process's plugin host, and reading a config with it.

Kept apart from :mod:`tradekit.cli` so command groups that live beside the code they drive
(``tradekit db`` in :mod:`tradekit.store.cli`) read configs the same way without importing the
CLI that attaches them. Imports nothing heavy: ``tradekit --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tradekit.config import Settings
    from tradekit.plugins import PluginHost

__all__ = ["load_config", "loaded_host", "process_host"]

_HOST: list[PluginHost] = []  # the plugin host of this process, loaded once


def loaded_host() -> PluginHost | None:
    """The process's plugin host if it was loaded already, else None."""
    return _HOST[0] if _HOST else None


def process_host(*, log_errors: bool = True) -> PluginHost:
    """The process's plugin host, loaded on first use.

    With ``log_errors`` the plugins that failed to load are logged when it is loaded; without,
    logging is not set up yet and the CLI's group callback logs them later.
    """
    if not _HOST:
        from tradekit.plugins import load_plugins

        _HOST.append(load_plugins())
        if log_errors:
            from loguru import logger

            for error in _HOST[0].errors:
                logger.warning("{}", error)
    return _HOST[0]


def load_config(config: Path, host: PluginHost | None = None) -> Settings:
    """Read and validate CONFIG with the process's plugins; its secrets are masked in logs."""
    from tradekit.config import load_settings, secret_values
    from tradekit.log import add_secrets

    settings = load_settings(config, host or process_host())
    add_secrets(secret_values(settings))
    return settings
