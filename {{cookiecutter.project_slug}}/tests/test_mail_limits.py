"""Mails per address and per client: a loop of sign-ups, logins and resets cannot fill a
mailbox (issue 21: 16 mails reached one address in a minute), and the pages stay calm."""

import pytest
from test_auth import login, register


def to(outbox, address):
    return [mail for mail in outbox if mail.recipients == [address]]


@pytest.mark.settings(RATELIMIT_ENABLED=True)
def test_one_address_gets_five_mails_an_hour_however_they_are_asked_for(client, outbox):
    statuses = [register(client, email="victim@example.com").status_code]
    for _ in range(10):  # each login of the unverified account asks for a new link
        statuses.append(login(client, username="grace", password="compiler of 1952").status_code)
    for _ in range(5):
        forgot = client.post("/auth/forgot-password", data={"email": "victim@example.com"})
        statuses.append(forgot.status_code)
    assert statuses == [302] + [200] * 10 + [302] * 5  # every page answered, none with an error
    assert len(to(outbox, "victim@example.com")) == 5
    # From another client too: the count is the address's.
    other = {"REMOTE_ADDR": "192.0.2.9"}
    client.post("/auth/forgot-password", data={"email": "victim@example.com"}, environ_base=other)
    assert len(to(outbox, "victim@example.com")) == 5
    refused = login(client, username="grace", password="compiler of 1952", remote_addr="192.0.2.9")
    assert refused.status_code == 200 and "Invalid username or password." in refused.text


@pytest.mark.settings(
    RATELIMIT_ENABLED=True, MAIL_CLIENT_RATE_LIMIT="3 per hour", REGISTER_RATE_LIMIT="9/minute"
)
def test_one_client_makes_the_app_send_a_limited_number_of_mails(client, outbox):
    answers = [register(client, username=f"user{n}").status_code for n in range(5)]
    assert answers == [302] * 5 and len(outbox) == 3
    assert "we could not send the mail" in client.get("/auth/login").text
    other = {"REMOTE_ADDR": "192.0.2.9"}
    client.post(
        "/auth/register",
        data={"username": "late", "email": "late@example.com", "password": "a long phrase"}
        | {"confirm": "a long phrase"},
        environ_base=other,
    )
    assert len(outbox) == 4
