"""The README and the napari-hub page work off GitHub: absolute URLs, research-use statement."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", ROOT / ".napari-hub" / "DESCRIPTION.md"]


def _repo_url() -> str:
    # tomllib is Python >= 3.11 and the project supports 3.10: read the one line
    match = re.search(
        r'^"Source Code"\s*=\s*"([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M
    )
    assert match, "pyproject.toml [project.urls] needs a Source Code URL"
    return match.group(1).rstrip("/")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_page_links_are_absolute_and_statements_present(page):
    text = page.read_text()
    repo = _repo_url()
    owner_name = repo.removeprefix("https://github.com/")
    targets = re.findall(r"\]\(([^)\s]+)\)", text) + re.findall(r"^\[[^\]]+\]:\s*(\S+)", text, re.M)
    assert targets
    for target in targets:
        assert target.startswith(("https://", "http://", "#")), f"{page.name}: relative {target}"
    for image in re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", text):
        assert image.startswith(f"https://raw.githubusercontent.com/{owner_name}/"), image
    lower = text.lower()
    assert "research use only" in lower and "not for clinical use" in lower
    assert "2d" in lower and "slice" in lower and "hardware" in lower
