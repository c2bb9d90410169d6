"""The one money format (SPEC §15) and the template filter every page uses."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.template import Context, Template

from core.money import format_money


@pytest.mark.parametrize(
    ("value", "currency", "shown"),
    [
        (Decimal("1574.74"), None, "1,574.74"),
        (Decimal("1205"), None, "1,205.00"),
        (Decimal("-1234567.891"), None, "-1,234,567.89"),
        (Decimal("-0.001"), None, "0.00"),
        (Decimal("0.005"), None, "0.01"),
        ("3087.03", "EUR", "3,087.03 EUR"),
        (12, "USD", "12.00 USD"),
        (None, "USD", "—"),
        ("not money", None, "—"),
    ],
)
def test_it_formats_money_one_way(value: object, currency: str | None, shown: str) -> None:
    assert format_money(value, currency) == shown


def test_the_template_filter_formats_with_and_without_currency() -> None:
    template = Template("{% load money %}{{ amount|money }} / {{ amount|money:code }}")
    rendered = template.render(Context({"amount": Decimal("-1512.29"), "code": "EUR"}))
    assert rendered == "-1,512.29 / -1,512.29 EUR"
