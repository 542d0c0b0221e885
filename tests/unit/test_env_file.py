"""`--env-file`: the strict parser, what wins, and the files that document the variables."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tradekit.env_file import EnvFileError, load_env_file, parse_env

ROOT = Path(__file__).resolve().parents[2]


def test_names_values_quotes_and_comments() -> None:
    text = (
        "\ufeff# a comment\n"
        "\n"
        "PLAIN=value\n"
        "  SPACED  =  some value   # a comment\n"
        "export EXPORTED=1\n"
        "EMPTY=\n"
        "HASH=abc#def\n"
        "SINGLE='it has # and ${NOT_EXPANDED} and \\n'\n"
        'DOUBLE="line\\nnext \\"quoted\\" \\\\ $x"  # after\n'
        "URL=postgresql://u:p@host:5432/db?sslmode=require\n"
    )
    assert parse_env(text) == {
        "PLAIN": "value",
        "SPACED": "some value",
        "EXPORTED": "1",
        "EMPTY": "",
        "HASH": "abc#def",
        "SINGLE": "it has # and ${NOT_EXPANDED} and \\n",
        "DOUBLE": 'line\nnext "quoted" \\ $x',
        "URL": "postgresql://u:p@host:5432/db?sslmode=require",
    }


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("A=1\nnot a line\n", ".env:2: expected NAME=value, found no '='"),
        (
            "A=1\n1BAD=2\n",
            ".env:2: '1BAD' is not a variable name (letters, digits and _, not starting with "
            "a digit)",
        ),
        ("A=1\nA=2\n", ".env:2: A is already set on line 1"),
        ("A='open\n", ".env:1 (A): the single quote is not closed on this line"),
        ('A="open\n', ".env:1 (A): the double quote is not closed on this line"),
        (
            'A="x" y\n',
            ".env:1 (A): text after the closing quote (quote the whole value; a value that holds "
            "a quote goes in the other kind of quotes)",
        ),
        ('A="\\q"\n', ".env:1 (A): unknown escape \\q in a quoted value"),
        ("A=half'quoted\n", ".env:1 (A): quote the whole value, not part of it"),
    ],
)
def test_a_bad_line_is_named_with_its_number(text: str, problem: str) -> None:
    with pytest.raises(EnvFileError) as info:
        parse_env(text, ".env")
    assert str(info.value) == problem


def test_a_bad_line_never_shows_a_value() -> None:
    with pytest.raises(EnvFileError) as info:
        parse_env("TOKEN 'sup3r-secret-value'\n", ".env")
    assert "sup3r" not in str(info.value)


def test_a_secret_with_a_quote_inside_is_not_shown() -> None:
    # The quote inside ends the quoted part early: the rest of the secret follows it.
    for text in ("TOKEN='sup3r'secret-tail'\n", 'TOKEN="sup3r"secret-tail"\n'):
        with pytest.raises(EnvFileError) as info:
            parse_env(text, ".env")
        assert "secret-tail" not in str(info.value)
        assert str(info.value).startswith(".env:1 (TOKEN): text after the closing quote")


def test_the_environment_wins_and_only_new_names_are_set(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("A=from-file\nB=from-file\n", encoding="utf-8")
    environ = {"A": "from-environment"}
    assert load_env_file(path, environ) == ["B"]
    assert environ == {"A": "from-environment", "B": "from-file"}


def test_a_missing_or_binary_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(EnvFileError, match=rf"^{re.escape(str(tmp_path / 'nope'))}: no such file$"):
        load_env_file(tmp_path / "nope", {})
    binary = tmp_path / "bin.env"
    binary.write_bytes(b"A=\xff\n")
    with pytest.raises(EnvFileError, match="not UTF-8 text"):
        load_env_file(binary, {})


def _config_variables() -> set[str]:
    names: set[str] = set()
    for path in ROOT.glob("examples/**/*.y*ml"):
        names |= set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", path.read_text("utf-8")))
    return names


def test_env_example_lists_every_variable_the_example_configs_read() -> None:
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    listed = set(parse_env(example, ".env.example"))
    commented = set(re.findall(r"^# ([A-Z_][A-Z0-9_]*)=", example, flags=re.MULTILINE))
    used = _config_variables()
    assert {"TRADEKIT_REPLAY_SPEED", "TRADEKIT_DATA_DIR", "PORT"} <= used
    assert used <= listed, f"not in .env.example: {sorted(used - listed)}"
    # Live keys and the hosted settings are documented too (commented where optional).
    assert {"BITHUMB_API_KEY", "BITHUMB_API_SECRET", "TRADEKIT_API_TOKEN"} <= listed
    assert {"DATABASE_URL", "TRADEKIT_CONFIG"} <= commented
    # Every variable (or group of variables) has a comment above it saying what it is for.
    variable = re.compile(r"^(# )?[A-Z_][A-Z0-9_]*=")
    lines = example.splitlines()
    for number, line in enumerate(lines):
        if variable.match(line):
            above = number - 1
            while above >= 0 and variable.match(lines[above]):
                above -= 1
            assert above >= 0, line
            assert lines[above].startswith("#"), f"{line}: no comment above it"


def test_dot_env_is_ignored_by_git_and_the_example_is_not() -> None:
    rules = (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert ".env" in rules
    assert "!.env.example" in rules


def _jsonc(text: str) -> object:
    """JSON with // comments (devcontainer.json), comments outside strings removed."""
    out, in_string, i = [], False, 0
    while i < len(text):
        char = text[i]
        if in_string:
            out.append(char)
            if char == "\\":
                out.append(text[i + 1])
                i += 1
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
            out.append(char)
        elif text.startswith("//", i):
            i = text.find("\n", i)
            continue
        else:
            out.append(char)
        i += 1
    return json.loads("".join(out))


def test_the_devcontainer_installs_as_the_readme_says_and_documents_its_secrets() -> None:
    config = _jsonc((ROOT / ".devcontainer" / "devcontainer.json").read_text("utf-8"))
    assert isinstance(config, dict)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert config["postCreateCommand"] in readme
    assert "uv sync" in config["postCreateCommand"]
    assert 8000 in config["forwardPorts"]
    assert "3.11" in config["image"]
    secrets = config["secrets"]
    assert {
        "BITHUMB_API_KEY",
        "BITHUMB_API_SECRET",
        "TRADEKIT_API_TOKEN",
        "SLACK_WEBHOOK_URL",
        "DATABASE_URL",
    } <= set(secrets)
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    for name, spec in secrets.items():
        assert len(spec["description"]) > 20, name
        assert re.search(rf"^#? ?{name}=", example, flags=re.MULTILINE), name
