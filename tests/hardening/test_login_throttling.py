"""Password guessing is throttled (SPEC §9): lockouts on the login page and the admin
login (recorded as audit events), 429 with Retry-After for repeated bad API tokens, and
Django's password validators wherever a password is set."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.test import Client
from rest_framework.authtoken.models import Token

from audit.models import ActivityEvent
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
PASSWORD = "a-long-and-unusual-passphrase"


@pytest.fixture(autouse=True)
def quick_lockouts(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.AXES_FAILURE_LIMIT = 3
    settings.API_BAD_TOKEN_LIMIT = 4
    cache.clear()


@pytest.fixture
def olga(db: Any) -> Any:
    user = UserFactory(username="olga", is_staff=True)
    user.set_password(PASSWORD)
    user.save()
    return user


@pytest.mark.parametrize("login_url", ["/login/", "/admin/login/"])
def test_it_locks_out_after_repeated_wrong_passwords(
    client: Client, olga: Any, login_url: str
) -> None:
    for _ in range(3):
        wrong = client.post(login_url, {"username": "olga", "password": "guess"})
        assert "_auth_user_id" not in client.session
    assert wrong.status_code == 429

    right = client.post(login_url, {"username": "olga", "password": PASSWORD})

    assert right.status_code == 429
    assert "_auth_user_id" not in client.session
    assert "Too many failed logins" in right.content.decode()
    # The lockout, and each attempt refused during it, are audit events.
    lockouts = ActivityEvent.objects.filter(verb=ActivityEvent.Verb.LOGIN_LOCKED_OUT)
    assert lockouts.count() == 2
    assert {(event.actor_label, event.ip_address) for event in lockouts} == {("olga", "127.0.0.1")}


def test_a_right_password_before_the_limit_logs_in(client: Client, olga: Any) -> None:
    client.post("/login/", {"username": "olga", "password": "guess"})
    response = client.post("/login/", {"username": "olga", "password": PASSWORD})
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(olga.pk)


def test_repeated_bad_tokens_get_429_with_retry_after(olga: Any) -> None:
    good = Token.objects.create(user=olga).key
    for attempt in range(4):
        response = Client(HTTP_AUTHORIZATION=f"Token wrong{attempt}").get("/api/v1/me/")
        assert response.status_code == 401

    throttled = Client(HTTP_AUTHORIZATION="Token wrong-again").get("/api/v1/me/")
    even_the_right_one = Client(HTTP_AUTHORIZATION=f"Token {good}").get("/api/v1/me/")

    assert throttled.status_code == 429
    assert throttled.json()["error"]["code"] == "throttled"
    assert int(throttled["Retry-After"]) > 0
    assert even_the_right_one.status_code == 429


def test_a_valid_token_is_not_slowed_down(olga: Any) -> None:
    client = Client(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=olga).key}")
    assert {client.get("/api/v1/me/").status_code for _ in range(10)} == {200}


@pytest.mark.parametrize("password", ["a", "12345678901", "password123", "olivia-smith-1"])
def test_createoperator_refuses_a_weak_password(password: str) -> None:
    with pytest.raises(CommandError, match="Password refused"):
        call_command(
            "createoperator", "olivia-smith", "--engagement", "Acme", "--password", password
        )
    assert not Token.objects.exists()


def test_createoperator_accepts_a_strong_password(capsys: Any) -> None:
    call_command("createoperator", "olivia", "--engagement", "Acme", "--password", PASSWORD)
    token = capsys.readouterr().out.strip().splitlines()[-1]
    assert Token.objects.get(key=token).user.check_password(PASSWORD)


def test_the_admin_refuses_a_weak_password_for_a_new_user(admin_client: Client) -> None:
    response = admin_client.post(
        "/admin/auth/user/add/",
        {"username": "newbie", "password1": "abc", "password2": "abc", "usable_password": "true"},
    )
    assert response.status_code == 200
    assert "This password is too short" in response.content.decode()
