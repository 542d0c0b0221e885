"""``--env-file .env``: environment variables from a file, for every command.

The file holds ``NAME=value`` lines, as ``.env.example`` shows. The parser is strict: a line
it does not understand is an error naming the file and the line, never silently skipped.

* blank lines and lines starting with ``#`` are ignored; ``export NAME=value`` is allowed;
* a value may be bare (trimmed; `` #`` starts a comment), ``'single-quoted'`` (kept as
  written) or ``"double-quoted"`` (``\\n``, ``\\t``, ``\\"`` and ``\\\\`` are escapes);
* ``${...}`` in a value is kept as written (the config file does the substitution);
* a name set twice is an error.

A variable already set in the environment wins over the file (Codespaces secrets and a
container host's settings stay in charge). Values are never logged.
"""

from __future__ import annotations

import os
import re
from collections.abc import MutableMapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import click

__all__ = [
    "ENV_FILE_HELP",
    "EnvFileError",
    "add_env_file_option",
    "env_file_option",
    "load_env_file",
    "parse_env",
]

ENV_FILE_HELP = (
    "Read environment variables from this file (NAME=value lines) before anything else; "
    "variables already set in the environment win."
)
_LINE = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$")
_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\", "$": "$"}


class EnvFileError(ValueError):
    """The env file is missing, unreadable or has a line that is not ``NAME=value``."""


def _after_quote(rest: str, where: str) -> None:
    rest = rest.strip()
    if rest and not rest.startswith("#"):
        # Not shown: it is most likely the rest of a value holding a quote (a secret).
        raise EnvFileError(
            f"{where}: text after the closing quote (quote the whole value; a value that "
            "holds a quote goes in the other kind of quotes)"
        )


def _value(raw: str, where: str) -> str:
    if raw.startswith("'"):
        end = raw.find("'", 1)
        if end < 0:
            raise EnvFileError(f"{where}: the single quote is not closed on this line")
        _after_quote(raw[end + 1 :], where)
        return raw[1:end]
    if raw.startswith('"'):
        out: list[str] = []
        i = 1
        while i < len(raw):
            char = raw[i]
            if char == "\\" and i + 1 < len(raw):
                escaped = raw[i + 1]
                if escaped not in _ESCAPES:
                    raise EnvFileError(f"{where}: unknown escape \\{escaped} in a quoted value")
                out.append(_ESCAPES[escaped])
                i += 2
                continue
            if char == '"':
                _after_quote(raw[i + 1 :], where)
                return "".join(out)
            out.append(char)
            i += 1
        raise EnvFileError(f"{where}: the double quote is not closed on this line")
    comment = re.search(r"\s#", raw)
    value = raw[: comment.start()] if comment else raw
    value = value.strip()
    if any(q in value for q in "'\""):
        raise EnvFileError(f"{where}: quote the whole value, not part of it")
    return value


def parse_env(text: str, source: str = "<env>") -> dict[str, str]:
    """The variables of an env file's ``text``, in file order.

    Raises:
        EnvFileError: naming ``source`` and the line of the first problem (never a value).
    """
    found: dict[str, str] = {}
    lines: dict[str, int] = {}
    for number, line in enumerate(text.removeprefix("\ufeff").splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        where = f"{source}:{number}"
        match = _LINE.match(stripped)
        if match is None:  # nothing of the line is shown but a name: it may hold a secret
            if "=" not in stripped:
                raise EnvFileError(f"{where}: expected NAME=value, found no '='")
            name = stripped.split("=", 1)[0].strip().removeprefix("export ").strip()[:40]
            raise EnvFileError(
                f"{where}: {name!r} is not a variable name (letters, digits and _, "
                "not starting with a digit)"
            )
        name, raw = match.groups()
        if name in found:
            raise EnvFileError(f"{where}: {name} is already set on line {lines[name]}")
        found[name] = _value(raw, f"{where} ({name})")
        lines[name] = number
    return found


def load_env_file(path: str | Path, environ: MutableMapping[str, str] | None = None) -> list[str]:
    """Set the file's variables that ``environ`` (default ``os.environ``) does not have yet.

    Returns:
        The names that were set (values already in the environment are kept).

    Raises:
        EnvFileError: the file is missing or unreadable, or a line is malformed.
    """
    environ = os.environ if environ is None else environ
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise EnvFileError(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise EnvFileError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise EnvFileError(f"{path}: cannot read it ({exc.strerror})") from None
    loaded = []
    for name, value in parse_env(text, str(path)).items():
        if name not in environ:
            environ[name] = value
            loaded.append(name)
    return loaded


def _callback(ctx: click.Context, _param: click.Parameter, value: Path | None) -> None:
    import click

    if value is None:
        return
    try:
        load_env_file(value)
    except EnvFileError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param_hint="'--env-file'") from None


def env_file_option() -> click.Option:
    """The ``--env-file`` option: eager, so it loads before any other option or argument
    reads the environment (e.g. ``run``'s ``$TRADEKIT_CONFIG``)."""
    import click

    return click.Option(
        ["--env-file"],
        type=click.Path(dir_okay=False, path_type=Path),
        expose_value=False,
        is_eager=True,
        callback=_callback,
        help=ENV_FILE_HELP,
    )


def add_env_file_option(command: click.Command) -> None:
    """Give ``command`` and every command below it an ``--env-file`` option (once)."""
    import click

    if not any(param.name == "env_file" for param in command.params):
        command.params.append(env_file_option())
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            add_env_file_option(sub)
