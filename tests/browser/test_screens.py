"""Screens that tell the truth, in a real browser (SPEC §3, §15): a neutral "calculating"
while a job runs, closing refused while money is pending, every operator page and dialog at
390 px without sideways scrolling, no console error and no 404 along the way, and the
column mapping keeping what was typed.

Set SCREENSHOTS_DIR to keep a picture of every page looked at (not committed)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from exports.services import export_batch_create
from recalc import services as recalc_services
from sessions_app.models import ProcessingSession

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
PHONE = {"width": 390, "height": 844}
# The outermost elements sticking out to the right, to say what to fix.
OVERFLOWING = """() => [...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
  .filter(e => !e.parentElement.closest('.table-scroll')
    && e.parentElement.getBoundingClientRect().right <= window.innerWidth + 1)
  .slice(0, 8)
  .map(e => `${e.tagName.toLowerCase()}#${e.id}.${[...e.classList].join('.')}`
    + ` ${Math.round(e.getBoundingClientRect().right)}px`)"""


def _expect() -> Any:
    from playwright.sync_api import expect

    return expect


def _log_in(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("correct-horse-battery")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}/")


def _keep_picture(page: Any, name: str) -> None:
    folder = os.environ.get("SCREENSHOTS_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def _fits(page: Any, name: str) -> None:
    """Nothing makes the page scroll sideways; tables scroll inside their own box."""
    _keep_picture(page, name)
    widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    wide = page.evaluate(OVERFLOWING)
    assert widths[0] <= widths[1], f"{name}: {widths[0]} px wide at {widths[1]} px: {wide}"


def _dialog_fits(page: Any, name: str) -> None:
    """The open dialog lies inside the screen, its close button included, and nothing in it
    is cut off sideways."""
    _fits(page, name)
    dialog = page.locator("dialog[open]")
    box = dialog.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], f"{name}: {box}"
    closer = dialog.get_by_role("button", name="Close", exact=True).first.bounding_box()
    assert closer["x"] + closer["width"] <= PHONE["width"], f"{name}: close button at {closer}"
    cut = dialog.evaluate("d => d.scrollWidth - d.clientWidth")
    assert cut <= 0, f"{name}: the dialog's content is {cut} px wider than the dialog"


def _open_dialog(page: Any, link_name: str) -> Any:
    page.locator("#session-header").get_by_role("link", name=link_name).click()
    dialog = page.locator("dialog[open]")
    _expect()(dialog).to_be_visible()
    page.wait_for_function("() => !document.querySelector('.htmx-request, .htmx-settling')")
    return dialog


def _close_dialog(page: Any) -> None:
    page.locator("dialog[open]").get_by_role("button", name="Close", exact=True).first.click()
    _expect()(page.locator("dialog[open]")).to_have_count(0)


# --- Calculating, then the proof -------------------------------------------------------------


def test_the_proof_says_calculating_until_the_job_ends_then_balances_without_a_reload(
    page: Any, live_server: Any, operator: Any, monkeypatch: Any
) -> None:
    expect = _expect()
    base = live_server.url
    dispatched: list[int] = []
    monkeypatch.setattr(
        recalc_services, "recalc_job_dispatch", lambda *, job_id: dispatched.append(job_id)
    )
    _log_in(page, base, operator.username)
    page.goto(f"{base}/sessions/new/")
    page.get_by_label("Name").fill("October 2026")
    page.get_by_label("Period start").fill("2026-10-01")
    page.get_by_label("Period end").fill("2026-10-31")
    page.get_by_label("Tolerance").fill("1.00")
    page.set_input_files("#id_card_file", str(FIXTURES / "car_2026_10.csv"))
    page.set_input_files("#id_receipts_file", str(FIXTURES / "receipts_2026_10_v1.csv"))
    page.get_by_role("button", name="Create session").click()
    page.wait_for_url(re.compile(r"/sessions/\d+/$"))

    proof = page.locator("#session-proof")
    expect(page.locator("#job-panel")).to_contain_text("Queued")
    expect(proof).to_contain_text("Calculating…")
    expect(proof).not_to_contain_text("does NOT balance")
    expect(page.locator("#change-summary")).to_contain_text("Calculating…")
    # The job panel comes first, where the operator looks.
    job_top = page.locator("#job-panel").bounding_box()["y"]
    assert job_top < proof.bounding_box()["y"]
    page.evaluate("window.stillTheSamePage = true")

    monkeypatch.undo()
    recalc_services.recalc_job_run(job_id=dispatched[0])

    expect(proof).to_contain_text("The session balances")
    expect(proof).not_to_contain_text("Calculating")
    expect(page.locator("#change-summary")).to_contain_text("never exported")
    assert page.evaluate("window.stillTheSamePage") is True


# --- Closing with money pending -----------------------------------------------------------------


def test_closing_is_refused_with_the_pending_money_then_closed_anyway_with_a_reason(
    page: Any, live_server: Any, operator: Any, make_session: Any
) -> None:
    expect = _expect()
    session = make_session()
    _log_in(page, live_server.url, operator.username)
    page.goto(f"{live_server.url}/sessions/{session.pk}/")
    dialog = _open_dialog(page, "Close session")
    expect(dialog.locator("#close-pending")).to_contain_text("4 export-ready employees")
    expect(dialog.locator("#close-pending")).to_contain_text("1,484.75 USD")

    dialog.get_by_label("Reason").fill("Period over")
    dialog.get_by_role("button", name="Close the session").click()
    expect(dialog.get_by_role("alert")).to_contain_text(
        "4 export-ready employees (1,484.75 USD) not exported to pVault"
    )
    session.refresh_from_db()
    assert not session.is_closed

    dialog.get_by_label("Close anyway, without exporting what is pending").check()
    dialog.get_by_role("button", name="Close the session").click()
    expect(page.locator(".banner-closed")).to_contain_text("Period over")
    # Nothing offers or promises an export any more.
    expect(page.locator("#session-header").get_by_role("link", name="Export")).to_have_count(0)
    expect(page.locator("#change-summary")).not_to_contain_text("A delta export sends")
    expect(page.locator("#export-history").get_by_role("link", name="New export")).to_have_count(0)
    assert ProcessingSession.objects.get(pk=session.pk).is_closed


# --- 390 px -------------------------------------------------------------------------------------


def test_every_operator_page_and_dialog_fits_a_390_px_screen(
    page: Any, live_server: Any, operator: Any, make_session: Any
) -> None:
    session = make_session()
    export_batch_create(session=session, export_type="pvault", actor=operator)
    base = live_server.url
    page.set_viewport_size(PHONE)
    _log_in(page, base, operator.username)
    _fits(page, "session-list")
    page.goto(f"{base}/sessions/{session.pk}/")
    _fits(page, "session-detail")
    for link, name in (
        ("Export", "export-dialog"),
        ("Add receipts", "receipts-dialog"),
        ("Close session", "close-dialog"),
    ):
        _open_dialog(page, link)
        _dialog_fits(page, name)
        _close_dialog(page)
    # The export dialog's preview, with its figures, after a change of scope.
    dialog = _open_dialog(page, "Export")
    dialog.get_by_label(re.compile(r"^All: every employee")).check()
    _expect()(dialog.locator("#export-preview")).to_contain_text("pVault import · all")
    _dialog_fits(page, "export-dialog-all")
    _close_dialog(page)
    page.goto(f"{base}/sessions/{session.pk}/employees/E1004/")
    _fits(page, "employee-detail")
    for path, name in (
        ("/sessions/new/", "session-new"),
        (f"/audit/sessions/{session.pk}/timeline/", "timeline"),
        (f"/audit/sessions/{session.pk}/as-of/?at=2999-01-01T00:00:00", "as-of-refused"),
        (f"/audit/engagements/{session.engagement.slug}/log/", "audit-log"),
        ("/audit/analytics/", "analytics"),
        ("/notifications/", "notifications"),
    ):
        page.goto(f"{base}{path}")
        _fits(page, name)


def test_the_audit_matching_and_chasing_pages_and_the_card_dialog_fit_390_px(
    page: Any, live_server: Any, operator: Any, make_session: Any
) -> None:
    session = make_session()
    base = live_server.url
    page.set_viewport_size(PHONE)
    _log_in(page, base, operator.username)
    page.goto(f"{base}/sessions/{session.pk}/")
    _open_dialog(page, "Replace card statement")
    _dialog_fits(page, "card-replace-dialog")
    _close_dialog(page)
    moment = timezone.localtime().strftime("%Y-%m-%dT%H:%M:%S")
    slug = session.engagement.slug
    for path, name, shows in (
        (f"/audit/sessions/{session.pk}/as-of/?at={moment}", "as-of", "E1004"),
        (f"/audit/sessions/{session.pk}/employees/E1001/history/", "revision-history", "E1001"),
        (f"/sessions/{session.pk}/unmatched-charges/", "unmatched-charges", "nmatched"),
        (f"/chasing/sessions/{session.pk}/reminders/", "reminders", "Request receipts"),
        (f"/chasing/engagements/{slug}/contacts/", "contacts", "Employee directory"),
    ):
        response = page.goto(f"{base}{path}")
        assert response.status == 200, f"{name}: {response.status}"
        _expect()(page.locator("main")).to_contain_text(shows)
        _fits(page, name)


def test_the_full_timeline_reads_as_a_list_not_a_narrow_column(
    page: Any, live_server: Any, operator: Any, make_session: Any
) -> None:
    session = make_session()
    _log_in(page, live_server.url, operator.username)
    page.goto(f"{live_server.url}/audit/sessions/{session.pk}/timeline/")
    message = page.locator(".timeline-item div").first
    assert message.bounding_box()["width"] > 400  # not squeezed into a 7rem column
    _keep_picture(page, "timeline-desktop")


# --- No console error, no 404 -------------------------------------------------------------------


def test_the_operator_story_has_no_console_error_and_no_404(
    page: Any, live_server: Any, operator: Any, make_session: Any
) -> None:
    problems: list[str] = []
    page.on(
        "console",
        lambda message: (
            problems.append(f"console: {message.text}") if message.type == "error" else None
        ),
    )
    page.on(
        "response",
        lambda response: (
            problems.append(f"{response.status}: {response.url}")
            if response.status == 404
            else None
        ),
    )
    session = make_session()
    base = live_server.url
    _log_in(page, base, operator.username)
    page.goto(f"{base}/sessions/{session.pk}/")
    dialog = _open_dialog(page, "Export")
    for label in ("Exceptions report", "pVault import", re.compile(r"^All: every employee")):
        dialog.get_by_label(label).check()
        page.wait_for_function("() => !document.querySelector('.htmx-request, .htmx-settling')")
    dialog.get_by_label(re.compile(r"^Delta: new and changed")).check()
    page.wait_for_function("() => !document.querySelector('.htmx-request, .htmx-settling')")
    dialog.get_by_role("button", name="Generate the export").click()
    _expect()(dialog.get_by_role("link", name=re.compile(r"Download PV-"))).to_be_visible()
    _close_dialog(page)
    for path in (
        f"/sessions/{session.pk}/employees/E1004/",
        f"/audit/sessions/{session.pk}/timeline/",
        f"/audit/sessions/{session.pk}/as-of/",
        "/audit/analytics/",
        "/notifications/",
        "/",
    ):
        page.goto(f"{base}{path}")
    page.wait_for_load_state("networkidle")
    assert problems == []


# --- The column mapping -------------------------------------------------------------------------


def test_the_column_mapping_keeps_what_was_typed_in_the_new_session_form(
    page: Any, live_server: Any, operator: Any, tmp_path: Path
) -> None:
    expect = _expect()
    odd = tmp_path / "bank.csv"
    odd.write_text("Holder,Card Ref,Charge\nAlice,C-1,10.00\n", encoding="utf-8")
    base = live_server.url
    _log_in(page, base, operator.username)
    page.goto(f"{base}/sessions/new/")
    page.get_by_label("Name").fill("November close")
    page.get_by_label("Period start").fill("2026-11-01")
    page.get_by_label("Period end").fill("2026-11-30")
    page.get_by_label("Tolerance").fill("2.50")
    page.set_input_files("#id_card_file", str(odd))
    page.get_by_role("button", name="Create session").click()
    mapping = page.locator("#mapping-form")
    expect(mapping).to_be_visible()
    mapping.get_by_label("Column for employee id").select_option("Card Ref")
    mapping.get_by_label("Column for amount").select_option("Charge")
    mapping.get_by_role("button", name="Save import profile").click()
    page.wait_for_url(re.compile(r"/sessions/new/\?"))
    expect(page.get_by_label("Name")).to_have_value("November close")
    expect(page.get_by_label("Period start")).to_have_value("2026-11-01")
    expect(page.get_by_label("Period end")).to_have_value("2026-11-30")
    expect(page.get_by_label("Tolerance")).to_have_value("2.50")
