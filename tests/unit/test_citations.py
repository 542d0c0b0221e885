"""The code cites only pages of this repository, and every section it cites exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CODE = [
    p
    for folder in ("src", "plugins", "tests", "bench")
    for p in (ROOT / folder).rglob("*.py")
    if ".venv" not in p.parts
]
# The research notes and the strategy spec the code once cited live outside the repository.
OUTSIDE = re.compile(r"spec/breakout\.md|reference §|reference notes|§\d")
CITED = re.compile(r"docs/([\w-]+\.md)(?:#([\w-]+))?((?:(?:,| and) #[\w-]+)*)")


def _anchors(page: str) -> set[str]:
    """The ids mkdocs gives the page's headings (lower case, spaces to dashes)."""
    text = (ROOT / "docs" / page).read_text(encoding="utf-8")
    headings = re.findall(r"^#{1,6} (.+)$", text, re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h).strip().lower().replace(" ", "-") for h in headings}


def test_no_citation_of_files_outside_the_repository() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in CODE
        if path.name != "test_citations.py"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert not found, "\n".join(found)


def test_every_cited_section_exists() -> None:
    cited: list[tuple[str, str, str]] = []
    for path in CODE:
        for match in CITED.finditer(path.read_text(encoding="utf-8")):
            page, anchor, more = match.groups()
            anchors = [anchor] if anchor else []
            anchors += re.findall(r"#([\w-]+)", more or "")
            cited += [(str(path.relative_to(ROOT)), page, a) for a in anchors]
    assert len(cited) > 20
    missing = [
        f"{where}: docs/{page}#{anchor}"
        for where, page, anchor in cited
        if not (ROOT / "docs" / page).exists() or anchor not in _anchors(page)
    ]
    assert not missing, "\n".join(missing)
