"""The README and the user guide point only at files that the repository has."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# [text](target): a link; `path.md` or `path/`: a path quoted in prose.
LINK = re.compile(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
QUOTED_PATH = re.compile(r"`((?:\.\.?/)?[\w.-]+(?:/[\w.-]+)*(?:\.md|/))`")


def relative_links(text: str) -> list[str]:
    return [t for t in LINK.findall(text) if not re.match(r"^[a-z][a-z0-9+.-]*:", t) and not t.startswith("#")]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_relative_link_resolves_to_a_file_of_the_repository(document):
    text = document.read_text()
    broken = []
    for target in relative_links(text):
        path = (document.parent / target.split("#")[0]).resolve()
        if not path.is_relative_to(ROOT) or not path.exists():
            broken.append(target)
    assert broken == [], f"{document.name} links to what the repository does not have"


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_no_quoted_path_leads_out_of_the_repository(document):
    """A path in backquotes that climbs out of the repository (`../shared/...`) resolves nowhere for a reader."""
    outside = []
    for quoted in QUOTED_PATH.findall(document.read_text()):
        if quoted.startswith("../") and not (document.parent / quoted).resolve().is_relative_to(ROOT):
            outside.append(quoted)
    assert outside == []


def test_the_link_finder_finds_links_and_skips_urls_and_anchors():
    text = '[a](docs/x.md) [b](https://example.com) [c](#part) [d](z.md#part "title") [e](mailto:a@b.c)'
    assert relative_links(text) == ["docs/x.md", "z.md#part"]
