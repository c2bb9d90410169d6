from __future__ import annotations

import pytest

from chasing.models import EmployeeContact
from chasing.services import employee_contacts_import
from core.errors import InvalidFile

pytestmark = pytest.mark.django_db


def _load(engagement, operator, text: str, encoding: str = "utf-8"):
    return employee_contacts_import(
        engagement=engagement, data=text.encode(encoding), actor=operator
    )


def test_a_second_load_updates_changed_rows_and_keeps_the_others(engagement, operator, directory):
    summary = _load(
        engagement,
        operator,
        "Emp ID;E-mail;Manager Email\nE1001;alice@example.com;maria@example.com\n\n"
        "E1002;robert@example.com;\nE1099;new@example.com;\n",
    )
    assert (summary.created, summary.updated, summary.unchanged) == (1, 1, 1)
    assert summary.blank_rows == 1 and summary.contacts == 6
    assert EmployeeContact.objects.get(employee_id="E1002").email == "robert@example.com"
    assert EmployeeContact.objects.filter(employee_id="E1007").exists()  # not in the file: kept


def test_every_change_is_in_the_history_with_who_and_why(engagement, operator, directory):
    _load(engagement, operator, "employee_id,email\nE1002,robert@example.com\n")
    contact = EmployeeContact.objects.get(employee_id="E1002")
    latest = contact.history.order_by("-history_date").first()
    assert latest.history_user == operator
    assert latest.history_change_reason == "Employee directory file loaded"
    assert contact.history.count() == 2


def test_a_bad_file_lists_every_error_and_changes_nothing(engagement, operator, directory):
    before = list(EmployeeContact.objects.order_by("pk").values_list("employee_id", "email"))
    with pytest.raises(InvalidFile) as refused:
        _load(
            engagement,
            operator,
            "employee_id,email,manager_email\nE1001,changed@example.com,\n"
            "E1001,twice@example.com,\nE1010,,\nE1011,ok@example.com,boss@\n",
        )
    problems = {(e.line, e.column, e.message) for e in refused.value.errors}
    assert problems == {
        (3, "employee_id", "employee id already given on line 2"),
        (4, "email", "email address is missing"),
        (5, "manager_email", "not a valid email address"),
    }
    after = list(EmployeeContact.objects.order_by("pk").values_list("employee_id", "email"))
    assert after == before


def test_a_windows_1252_file_is_read(engagement, operator):
    _load(engagement, operator, "Employee ID,Email\nDÍAZ-1,carmen@example.com\n", "cp1252")
    assert EmployeeContact.objects.get().employee_id == "DÍAZ-1"


def test_a_file_without_rows_or_columns_is_refused(engagement, operator):
    with pytest.raises(InvalidFile, match="has 1 error"):
        _load(engagement, operator, "name,phone\nAlice,123\n")
    with pytest.raises(InvalidFile):
        _load(engagement, operator, "")
    assert not EmployeeContact.objects.exists()
