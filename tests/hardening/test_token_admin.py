"""The admin never shows an API token in clear (SPEC §9): not in the list, not on the
token's page, not in the messages or the recent-actions log after adding one."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_the_token_list_and_page_mask_the_key(admin_client: Client) -> None:
    token = Token.objects.create(user=UserFactory(username="scripted"))

    listing = admin_client.get("/admin/audit/apitoken/").content.decode()
    revoke = admin_client.get(f"/admin/audit/apitoken/{token.user_id}/delete/")

    assert "scripted" in listing
    assert f"{token.key[:4]}…" in listing
    assert token.key not in listing
    assert revoke.status_code == 200
    assert token.key not in revoke.content.decode()
    assert admin_client.get(f"/admin/audit/apitoken/{token.user_id}/change/").status_code == 403
    assert admin_client.get("/admin/authtoken/tokenproxy/").status_code == 404


def test_revoking_deletes_the_token(admin_client: Client) -> None:
    token = Token.objects.create(user=UserFactory(username="scripted"))
    response = admin_client.post(
        f"/admin/audit/apitoken/{token.user_id}/delete/", {"post": "yes"}, follow=True
    )
    assert response.status_code == 200
    assert token.key not in response.content.decode()
    assert not Token.objects.filter(pk=token.pk).exists()


def test_adding_a_token_never_prints_it(admin_client: Client, admin_user: Any) -> None:
    user = UserFactory(username="newscript")

    response = admin_client.post("/admin/audit/apitoken/add/", {"user": user.pk}, follow=True)

    key = Token.objects.get(user=user).key
    assert response.status_code == 200
    assert key not in response.content.decode()
    assert key not in admin_client.get("/admin/").content.decode()  # recent actions
