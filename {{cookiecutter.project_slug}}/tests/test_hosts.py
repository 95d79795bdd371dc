"""Links in mails start with BASE_URL, and the app answers only the hosts it trusts.

Whoever sends a request names its host (the Host and X-Forwarded-Host headers): a link built
from it, in a password-reset mail, once sent a valid token to any site an attacker named.
"""

import pytest

from {{ cookiecutter.project_slug }}.config import load_config

EVIL = {"Host": "evil.example"}
FORWARDED_EVIL = {"X-Forwarded-Host": "evil.example"}


def forgot(client, **headers):
    return client.post("/auth/forgot-password", data={"email": "ada@example.com"}, headers=headers)


@pytest.mark.settings(BASE_URL="https://app.example.com", TRUSTED_HOSTS=["app.example.com"])
def test_reset_links_start_with_base_url(client, user, outbox):
    forgot(client, Host="app.example.com")
    (message,) = outbox
    assert "https://app.example.com/auth/reset-password/" in message.body


@pytest.mark.settings(BASE_URL="https://app.example.com")
def test_links_start_with_base_url_whatever_trusted_host_asked(client, user, outbox):
    """localhost is trusted (the health checks ask for it), yet the link names BASE_URL."""
    forgot(client)  # the test client's Host: localhost
    (message,) = outbox
    assert "https://app.example.com/auth/reset-password/" in message.body
    assert "localhost" not in message.body


@pytest.mark.parametrize("headers", [EVIL, FORWARDED_EVIL], ids=["Host", "X-Forwarded-Host"])
@pytest.mark.settings(BASE_URL="https://app.example.com", TRUSTED_PROXIES=1)
def test_an_unknown_host_is_refused_and_mails_nothing(client, user, outbox, headers):
    response = forgot(client, **headers)
    assert response.status_code == 400
    assert outbox == []


def test_without_base_url_only_local_hosts_are_answered(client, user, outbox):
    """Development: links follow the request, so only this machine's names are trusted."""
    assert forgot(client, **EVIL).status_code == 400
    forgot(client)
    (message,) = outbox
    assert "http://localhost/auth/reset-password/" in message.body


@pytest.mark.settings(BASE_URL="https://app.example.com")
@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_health_checks_on_loopback_are_answered(client, path):
    """Docker's and the compose files' health checks ask http://127.0.0.1:8000/."""
    assert client.get(path, headers={"Host": "127.0.0.1:8000"}).status_code == 200


def test_trusted_hosts_are_base_urls_and_loopbacks_unless_set(monkeypatch):
    monkeypatch.setenv("BASE_URL", "https://app.example.com/")
    config = load_config("testing")
    assert config.BASE_URL == "https://app.example.com"
    assert config.TRUSTED_HOSTS == ["app.example.com", "localhost", "127.0.0.1"]
    monkeypatch.setenv("TRUSTED_HOSTS", "app.example.com, www.app.example.com")
    assert load_config("testing").TRUSTED_HOSTS == ["app.example.com", "www.app.example.com"]


@pytest.mark.settings(BASE_URL="https://app.example.com")
def test_the_mail_to_an_address_someone_signed_up_with_links_to_base_url(client, user, outbox):
    form = {"username": "mallory", "email": "ada@example.com", "password": "compiler of 1952"}
    client.post("/auth/register", data={**form, "confirm": form["password"]})
    (exists,) = outbox
    assert "https://app.example.com/auth/login" in exists.body
    assert "https://app.example.com/auth/forgot-password" in exists.body
    assert "localhost" not in exists.body
