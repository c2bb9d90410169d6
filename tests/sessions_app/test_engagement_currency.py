from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings

from sessions_app.models import Engagement

pytestmark = pytest.mark.django_db


def test_new_engagement_takes_the_default_currency_setting():
    with override_settings(DEFAULT_CURRENCY="EUR"):
        engagement = Engagement.objects.create(name="Acme", slug="acme")
    engagement.refresh_from_db()
    assert engagement.currency == "EUR"


def test_default_currency_is_usd_without_the_setting_in_the_environment():
    assert Engagement(name="Acme", slug="acme").currency == "USD"


@pytest.mark.parametrize("code", ["usd", "US", "USDX", "U5D", "€"])
def test_currency_must_be_three_upper_case_letters(code):
    engagement = Engagement(name="Acme", slug="acme", currency=code)
    with pytest.raises(ValidationError) as excinfo:
        engagement.full_clean()
    assert "currency" in excinfo.value.message_dict


def test_a_valid_code_passes_validation():
    Engagement(name="Acme", slug="acme", currency="GBP").full_clean()
