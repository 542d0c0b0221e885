"""``${NAME}`` and ``${NAME:-default}`` in config values, read from the environment."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from tradekit.config.problems import join_path

__all__ = ["substitute_env"]


_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def substitute_env(
    data: Any, env: Mapping[str, str], path: str = "", problems: list[str] | None = None
) -> Any:
    """Replace ``${NAME}`` and ``${NAME:-default}`` in every string value.

    Missing variables without a default are appended to ``problems`` (naming the variable).
    """
    problems = [] if problems is None else problems
    if isinstance(data, str):

        def repl(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            value = env.get(name)
            if value is None or (value == "" and default is not None):
                if default is not None:
                    return default
                problems.append(
                    f"{path or '<top>'}: environment variable {name} is not set "
                    f"(set it, or write ${{{name}:-default}})"
                )
                return ""
            return value

        return _ENV_RE.sub(repl, data)
    if isinstance(data, dict):
        return {
            k: substitute_env(v, env, join_path(path, str(k)), problems) for k, v in data.items()
        }
    if isinstance(data, list):
        return [substitute_env(v, env, join_path(path, i), problems) for i, v in enumerate(data)]
    return data
