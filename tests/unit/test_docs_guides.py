"""The beginner guides stay true: Korean twins exist, and their commands and variables are real.

The strict docs build checks links and anchors; this checks what it cannot: every
``tradekit`` command a guide tells a beginner to type exists with the options it uses, a
Korean page never shows a command its English page does not, and every environment variable
the runbook lists is read somewhere in the code or the deployment files.
"""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
import yaml

from tradekit.cli import _add_plugin_commands, cli
from tradekit.env_file import add_env_file_option

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
#: The pages in Korean (issue 9's list, and paper trading).
KOREAN = [
    "index",
    "getting-started",
    "configuration",
    "live-trading",
    "paper-trading",  # beyond the list: where getting started sends a beginner next
    "CLOUD_WORKFLOW_GUIDE",
    "DEPLOYMENT_RUNBOOK",
]
GUIDES = ["getting-started", "CLOUD_WORKFLOW_GUIDE", "DEPLOYMENT_RUNBOOK"]
_FENCE = re.compile(r"^\s*```(?:bash|console)\n(.*?)^\s*```", re.S | re.M)
_INLINE = re.compile(r"`([^`]*\btradekit [^`]*)`")  # may wrap onto the next line
_PLACEHOLDER = re.compile(r"<[^<>\s]+>")


def _page(name: str, lang: str = "") -> str:
    suffix = f".{lang}.md" if lang else ".md"
    return (DOCS / f"{name}{suffix}").read_text(encoding="utf-8")


def _commands(text: str) -> set[str]:
    """Every ``tradekit ...`` command in the page's shell blocks and inline code."""
    found: set[str] = set()
    lines = [line for block in _FENCE.findall(text) for line in block.splitlines()]
    prose = re.sub(r"^\s*```.*?^\s*```", "", text, flags=re.S | re.M)  # fenced blocks out
    lines += [" ".join(code.split()) for code in _INLINE.findall(prose)]
    for line in lines:
        line = line.split(" #", 1)[0].strip().removeprefix("$ ")
        for part in re.split(r"&&|\|", line):
            words = part.strip().split()
            if "tradekit" in words:
                at = words.index("tradekit")
                if at == 0 or words[at - 1] in ("run", "uv", "exec"):
                    command = " ".join(w.strip("'\"") for w in words[at:])
                    found.add(_PLACEHOLDER.sub("<...>", command))  # <your-bot>, <내-봇-주소>
    return found


def _nav_files(nav: object) -> set[str]:
    if isinstance(nav, str):
        return {nav}
    if isinstance(nav, list):
        return set().union(*(_nav_files(item) for item in nav))
    if isinstance(nav, dict):
        return set().union(*(_nav_files(item) for item in nav.values()))
    return set()


def test_every_required_page_has_a_korean_twin_in_the_nav() -> None:
    config = yaml.load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"), Loader=yaml.BaseLoader)
    nav = _nav_files(config["nav"])
    for name in KOREAN:
        assert (DOCS / f"{name}.ko.md").is_file(), f"docs/{name}.ko.md is missing"
        assert f"{name}.md" in nav, f"{name}.md is not in the nav"
    plugin = next(p["i18n"] for p in config["plugins"] if isinstance(p, dict) and "i18n" in p)
    assert [lang["locale"] for lang in plugin["languages"]] == ["en", "ko"]


@pytest.mark.parametrize("name", KOREAN)
def test_a_korean_page_shows_no_command_its_english_page_lacks(name: str) -> None:
    extra = _commands(_page(name, "ko")) - _commands(_page(name))
    assert not extra, f"{name}.ko.md has commands that {name}.md does not: {sorted(extra)}"


@pytest.mark.parametrize("name", GUIDES)
def test_every_command_in_the_guides_exists_with_its_options(name: str) -> None:
    _add_plugin_commands(cli)  # as main() does
    add_env_file_option(cli)
    commands = _commands(_page(name)) | _commands(_page(name, "ko"))
    assert commands, f"no tradekit command found in {name}"
    for command in commands:
        words = command.split()[1:]
        current: click.Command = cli
        while words:
            word = words.pop(0)
            options = {o: p for p in current.params if isinstance(p, click.Option) for o in p.opts}
            if word.startswith("-"):
                option = options.get(word.split("=")[0])
                assert option is not None, f"{command!r}: {current.name} has no option {word}"
                if not option.is_flag and "=" not in word:
                    words.pop(0)  # its value
            elif isinstance(current, click.Group):
                sub = current.commands.get(word)
                assert sub is not None, f"{command!r}: no command {word!r}"
                current = sub


def test_every_variable_of_the_runbook_is_read_somewhere() -> None:
    text = _page("DEPLOYMENT_RUNBOOK")
    table = text[text.index("## Environment variables") : text.index("## Your config")]
    names = set(re.findall(r"^\| `([A-Z_]+)`", table, re.M))
    names |= set(re.findall(r"^\| `[A-Z_]+`, `([A-Z_]+)`", table, re.M))
    assert {"TRADEKIT_CONFIG", "PORT", "TRADEKIT_API_TOKEN", "DATABASE_URL"} <= names
    sources = [ROOT / "Dockerfile", ROOT / "railway.json", ROOT / "render.yaml"]
    sources += sorted((ROOT / "src").rglob("*.py")) + sorted((ROOT / "examples").glob("*.yaml"))
    corpus = "\n".join(p.read_text(encoding="utf-8") for p in sources)
    platform_only = {"RAILWAY_RUN_UID"}  # read by Railway itself, not by tradekit
    unread = sorted(n for n in names - platform_only if n not in corpus)
    assert not unread, f"the runbook lists variables nothing reads: {unread}"
    korean = _page("DEPLOYMENT_RUNBOOK", "ko")
    missing = sorted(n for n in names if f"`{n}`" not in korean)
    assert not missing, f"DEPLOYMENT_RUNBOOK.ko.md does not list {missing}"
