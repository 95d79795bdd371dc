"""The baked README is an entry page and its topics live in docs/: every page a bake keeps is
reachable from the README, every link between them leads to a page the bake has, and pages of
options not chosen are gone with their links.
"""

import re

import pytest

# Option sets that keep or drop a page (the hook prunes each page with its option's files).
OPTION_SETS = {
    "defaults": {},
    "postgresql-kubernetes": {"database": "postgresql", "use_kubernetes": True},
    "postgresql-no-api": {"database": "postgresql", "use_api": False},
    "bare": {"use_docker": False, "use_nginx": False, "use_api": False},
}
LINK = re.compile(r"\]\(([^)#\s]+\.md)(#[^)\s]*)?\)")
README_LINES = 320  # an entry page, not a manual: topics go to docs/


def local_links(path):
    """Relative links from one markdown file to other markdown files, resolved."""
    return {(path.parent / target).resolve() for target, _ in LINK.findall(path.read_text())}


@pytest.mark.parametrize("answers", OPTION_SETS.values(), ids=OPTION_SETS.keys())
def test_every_docs_page_is_linked_from_the_readme_and_every_link_leads_somewhere(
    bake_once, answers
):
    project = bake_once(**answers)
    readme = project / "README.md"
    pages = sorted((project / "docs").glob("*.md"))
    assert pages
    assert {page.resolve() for page in pages} <= local_links(readme)
    for source in [readme, *pages]:
        for target in local_links(source):
            assert target.exists(), f"{source.name} links to {target.name}, which this bake lacks"


def test_pages_of_options_not_chosen_are_pruned(bake_once):
    bare = bake_once(**OPTION_SETS["bare"])
    assert sorted(page.name for page in (bare / "docs").glob("*.md")) == [
        "accounts.md",
        "deployment.md",
        "development.md",
        "jobs.md",
        "operations.md",
        "security.md",
        "settings.md",
    ]
    full = bake_once(**OPTION_SETS["postgresql-kubernetes"])
    for page in ["api", "docker", "kubernetes", "postgresql", "swarm", "systemd"]:
        assert (full / "docs" / f"{page}.md").exists()


@pytest.mark.parametrize("answers", OPTION_SETS.values(), ids=OPTION_SETS.keys())
def test_the_readme_stays_an_entry_page(bake_once, answers):
    readme = (bake_once(**answers) / "README.md").read_text()
    assert len(readme.splitlines()) <= README_LINES
    assert "\n## Set up\n" in readme  # the heading updates anchor on (tests/test_cruft.py)
