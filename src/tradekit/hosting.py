"""``--hosted``: the settings a container host gives through the environment.

Docker, Railway and Render run one command and configure it with environment variables: the
platform sets ``PORT`` and sends its health checks and traffic to that port on the container's
own address, and a database add-on sets ``DATABASE_URL``. With ``--hosted`` these override the
config file:

========================  ==============================================================
``TRADEKIT_API_HOST``     ``api.host``; ``0.0.0.0`` (every interface) when unset
``PORT``                  ``api.port``; the config's port when unset
``TRADEKIT_API_TOKEN``    ``api.token`` when set (kept out of the config and of ``ps``)
``DATABASE_URL``          ``storage.url`` when set; ``postgres://`` and ``postgresql://`` are
                          read with psycopg 3, the driver tradekit installs
========================  ==============================================================

``tradekit run --hosted`` and ``tradekit config check --hosted`` apply all of them
(:func:`hosted_settings`); ``tradekit db upgrade --hosted`` and ``db current --hosted`` only
the database (:func:`hosted_storage`), so a migration reaches the database the bot will use.

The control API can trade, so it listens beyond the machine's own loopback address only with a
token: without one the bot refuses to start (exit status 2, naming ``TRADEKIT_API_TOKEN``).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from tradekit.errors import ConfigError

if TYPE_CHECKING:
    from tradekit.config import Settings

__all__ = [
    "DATABASE_ENV",
    "HOSTED_DEFAULT_HOST",
    "HOST_ENV",
    "PORT_ENV",
    "TOKEN_ENV",
    "database_url",
    "hosted_api",
    "hosted_settings",
    "hosted_storage",
    "is_loopback",
    "sqlite_folder_problem",
]

HOST_ENV = "TRADEKIT_API_HOST"
PORT_ENV = "PORT"
TOKEN_ENV = "TRADEKIT_API_TOKEN"
DATABASE_ENV = "DATABASE_URL"
HOSTED_DEFAULT_HOST = "0.0.0.0"  # the platform's proxy and health checks come from outside
_PSYCOPG = "postgresql+psycopg://"


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable only from this machine (``localhost``, 127.x, ``::1``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name other than localhost may resolve to anything


def database_url(url: str) -> str:
    """``url`` as SQLAlchemy should read it: a platform's ``postgres(ql)://`` URL uses psycopg 3.

    Without a driver SQLAlchemy would pick psycopg2, which tradekit does not install.
    """
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return _PSYCOPG + url[len(prefix) :]
    return url


def sqlite_folder_problem(url: str) -> str | None:
    """Why the SQLite database at ``url`` could not be created, or None (also for other URLs).

    A platform volume is often mounted owned by root, which a non-root image cannot write to;
    without this check the bot would fail later with SQLite's "unable to open database file".
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return None  # said by the store, naming storage.url
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    folder = Path(parsed.database).absolute().parent
    if folder.is_dir() and os.access(folder, os.W_OK):
        return None
    reason = (
        "does not exist" if not folder.is_dir() else f"is not writable by user id {os.getuid()}"
    )
    return (
        f"storage.url: the folder of the SQLite database, {folder}, {reason}: mount a volume "
        "there that this user can write to (on Railway, volumes are mounted for root: set "
        "RAILWAY_RUN_UID=0), or set DATABASE_URL"
    )


def hosted_settings(settings: Settings, env: Mapping[str, str]) -> Settings:
    """``settings`` with the API address, token and database the environment ``env`` gives.

    Raises:
        ConfigError: as :func:`hosted_api` does, then as :func:`hosted_storage` does.
    """
    return hosted_storage(hosted_api(settings, env), env)


def hosted_storage(settings: Settings, env: Mapping[str, str]) -> Settings:
    """``settings`` with the database ``DATABASE_URL`` in ``env`` names, if it names one.

    Raises:
        ConfigError: the folder of a SQLite database is missing or not writable.
    """
    storage = settings.storage
    if env.get(DATABASE_ENV, "").strip():
        storage = attrs.evolve(storage, url=database_url(env[DATABASE_ENV].strip()))
    folder_problem = sqlite_folder_problem(storage.url)
    if folder_problem:
        raise ConfigError([folder_problem])
    return attrs.evolve(settings, storage=storage)


def hosted_api(settings: Settings, env: Mapping[str, str]) -> Settings:
    """``settings`` with the control API's address and token the environment ``env`` gives.

    Raises:
        ConfigError: ``PORT`` is not a port number, the API is disabled (the platform's health
            check needs ``GET /health``), or the API would listen beyond loopback without a
            token: every problem at once, each naming its variable or key.
    """
    problems: list[str] = []
    api = settings.api
    host = env.get(HOST_ENV) or HOSTED_DEFAULT_HOST
    port = api.port
    raw_port = env.get(PORT_ENV, "").strip()
    if raw_port:
        if raw_port.isdigit() and 1 <= int(raw_port) <= 65535:
            port = int(raw_port)
        else:
            problems.append(f"{PORT_ENV}: expected a port number from 1 to 65535, got {raw_port!r}")
    token = env.get(TOKEN_ENV, "").strip() or (api.token or "").strip() or None
    if not api.enabled:
        problems.append(
            "api.enabled: false, but a hosted bot needs the control API: the platform's "
            "health check asks GET /health"
        )
    if token is None and not is_loopback(host):
        problems.append(
            f"{TOKEN_ENV}: not set, so the control API must not listen on {host}:{port} "
            "(beyond this machine anyone who reaches the port could trade): set "
            f"{TOKEN_ENV} to a long random secret, e.g. the output of "
            "python3 -c 'import secrets; print(secrets.token_urlsafe(32))', "
            f"or {HOST_ENV}=127.0.0.1 to keep the API local"
        )
    if problems:
        raise ConfigError(problems)
    return attrs.evolve(settings, api=attrs.evolve(api, host=host, port=port, token=token))
