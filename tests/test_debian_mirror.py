"""The stand-in images' Debian archive comes from this machine's apt sources alone."""

import pytest

from servers.docker import debian_mirror


def write_sources(apt, one_line="", deb822=""):
    (apt / "sources.list.d").mkdir(parents=True)
    (apt / "sources.list").write_text(one_line)
    (apt / "sources.list.d" / "debian.sources").write_text(deb822)
    return apt


def test_the_archive_of_a_one_line_source(tmp_path):
    apt = write_sources(
        tmp_path,
        one_line="# a comment\ndeb [arch=amd64] http://mirror.test/pub/debian bookworm main\n",
    )
    assert debian_mirror(apt) == "http://mirror.test/pub/debian"


def test_the_archive_of_a_deb822_source_not_its_security_archive(tmp_path):
    apt = write_sources(
        tmp_path,
        deb822="Types: deb\nURIs: http://mirror.test/debian-security\nSuites: bookworm\n\n"
        "Types: deb\nURIs: http://mirror.test/debian/\nSuites: bookworm\n",
    )
    assert debian_mirror(apt) == "http://mirror.test/debian/"


def test_no_archive_in_apt_sources_says_so(tmp_path):
    apt = write_sources(tmp_path, deb822="Types: deb\nURIs: http://mirror.test/ubuntu\n")
    with pytest.raises(pytest.skip.Exception, match="name no Debian archive"):
        debian_mirror(apt)
