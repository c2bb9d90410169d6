"""The operator's month in a real browser: log in, open a session from the sample files,
watch its recalculation finish, read the statuses, export to pVault, take late receipts
with a preview, export the delta, close the session."""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from recalc import services as recalc_services
from recalc.models import RecalcJob
from sessions_app.models import ProcessingSession
from tests.samples import FIXTURES

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshot.png"


def _expect() -> Any:
    from playwright.sync_api import expect

    return expect


def _log_in(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("correct-horse-battery")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}/")


def _create_session(page: Any, base: str) -> None:
    page.goto(f"{base}/sessions/new/")
    page.get_by_label("Name").fill("October 2026")
    page.get_by_label("Period start").fill("2026-10-01")
    page.get_by_label("Period end").fill("2026-10-31")
    page.get_by_label("Tolerance").fill("1.00")
    page.set_input_files("#id_card_file", str(FIXTURES / "car_2026_10.csv"))
    page.set_input_files("#id_receipts_file", str(FIXTURES / "receipts_2026_10_v1.csv"))
    page.get_by_role("button", name="Create session").click()
    page.wait_for_url(re.compile(r"/sessions/\d+/$"))


def _watch_the_job_finish(page: Any, dispatched: list[int], monkeypatch: Any) -> None:
    """The job waits for a worker while the page polls; the test plays the worker. Polls
    are held in the browser while it works, so the two never touch the database at once."""
    expect = _expect()
    panel = page.locator("#job-panel")
    expect(panel).to_contain_text("Queued")
    expect(panel).to_have_attribute("hx-trigger", "every 1s")
    held: list[Any] = []
    page.route("**/jobs/**", lambda route: held.append(route))
    while not held:
        page.wait_for_timeout(200)
    monkeypatch.undo()  # from here on, jobs run as the app runs them (inline under tests)
    recalc_services.recalc_job_run(job_id=dispatched[0])
    for route in held:
        route.continue_()
    page.unroute("**/jobs/**")
    expect(panel).to_contain_text("Completed")
    expect(panel.locator("progress")).to_have_attribute("value", "100")
    expect(panel).not_to_have_attribute("hx-trigger", "every 1s")


def _htmx_settled(page: Any) -> None:
    """Wait until htmx has swapped and settled: until then the new content's hx-triggers
    are not bound yet, and a change made in that moment is lost, as it would be for a user
    clicking that fast."""
    page.wait_for_function(
        "() => !document.querySelector("
        "'.htmx-request, .htmx-swapping, .htmx-settling, .htmx-added')"
    )


def _row(page: Any, employee_id: str) -> Any:
    return page.locator("#employees tbody tr", has_text=employee_id)


def _export_delta(page: Any, *, expected_count: int, expected_total: str) -> list[dict[str, str]]:
    expect = _expect()
    page.locator("#session-header").get_by_role("link", name="Export").click()
    dialog = page.locator("dialog[open]")
    expect(dialog).to_be_visible()
    preview = dialog.locator("#export-preview")
    expect(preview).to_contain_text(re.compile(rf"Employees in the file\s*{expected_count}\b"))
    expect(preview).to_contain_text(expected_total)
    # The preview follows the choices live.
    dialog.get_by_label("Exceptions report").check()
    expect(preview).to_contain_text("exceptions report · delta")
    dialog.get_by_label("pVault import").check()
    expect(preview).to_contain_text("pVault import · delta")
    dialog.get_by_role("button", name="Generate the export").click()
    link = dialog.get_by_role("link", name=re.compile(r"Download PV-"))
    expect(link).to_be_visible()
    with page.expect_download() as download_info:
        link.click()
    download = download_info.value
    batch_code = download.suggested_filename.removesuffix(".csv")
    rows = list(csv.DictReader(io.StringIO(Path(download.path()).read_text("utf-8"))))
    assert {row["batch_code"] for row in rows} == {batch_code}
    dialog.get_by_role("button", name="Close", exact=True).last.click()
    expect(page.locator("dialog[open]")).to_have_count(0)
    expect(page.locator("#export-history")).to_contain_text(batch_code)
    return rows


def _upload_v2_with_preview(page: Any) -> None:
    expect = _expect()
    page.locator("#session-header").get_by_role("link", name="Add receipts").click()
    dialog = page.locator("dialog[open]")
    expect(dialog).to_contain_text("The file is the complete receipts report")
    dialog.locator("#id_file").set_input_files(str(FIXTURES / "receipts_2026_10_v2.csv"))
    expect(dialog.get_by_label("Preview before applying")).to_be_checked()
    dialog.get_by_role("button", name="Upload receipts").click()
    expect(page.locator("dialog[open]")).to_have_count(0)
    panel = page.locator("#job-panel")
    expect(panel).to_contain_text("Preview of receipts v2: nothing has changed yet")
    # The first E1001 row is the employees table; the pairs that would change follow it.
    expect(panel.locator("tr", has_text="E1001").first).to_contain_text("155.00 → 155.75")
    expect(panel).to_contain_text("HILTON GARDEN INN 35.25 ↔ 2026-10-05 R-5002 35.25")
    expect(_row(page, "E1001")).to_contain_text("155.00")  # nothing applied yet
    panel.get_by_role("button", name="Apply receipts v2").click()
    expect(panel).to_contain_text("Completed")


def _screenshot(page: Any, tmp_path: Path) -> None:
    """The README's picture of the session page. It is rewritten only when asked
    (UPDATE_SCREENSHOT=1) or missing, so test runs leave the committed file alone."""
    shot = tmp_path / "session.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000
    if os.environ.get("UPDATE_SCREENSHOT") or not SCREENSHOT.exists():
        SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copyfile(shot, SCREENSHOT)


def test_an_operator_reconciles_exports_and_closes_a_session(
    page: Any, live_server: Any, operator: Any, monkeypatch: Any, tmp_path: Path
) -> None:
    expect = _expect()
    base = live_server.url
    dispatched: list[int] = []
    monkeypatch.setattr(
        recalc_services, "recalc_job_dispatch", lambda *, job_id: dispatched.append(job_id)
    )
    _log_in(page, base, operator.username)
    _create_session(page, base)
    _watch_the_job_finish(page, dispatched, monkeypatch)

    # The statuses, refreshed by the finished job without a reload.
    expect(_row(page, "E1003")).to_contain_text("Missing receipts")
    expect(_row(page, "E1008")).to_contain_text("No card activity")
    expect(_row(page, "E1002")).to_contain_text("Matched")
    expect(page.locator("#session-proof")).to_contain_text("The session balances")

    first = _export_delta(page, expected_count=4, expected_total="1,484.75")
    assert [row["employee_id"] for row in first] == ["E1001", "E1002", "E1005", "E1007"]
    assert sum(Decimal(row["amount"]) for row in first) == Decimal("1484.75")

    _upload_v2_with_preview(page)
    expect(_row(page, "E1001")).to_contain_text("was 155.00")
    expect(_row(page, "E1005")).to_contain_text("Excess receipts")
    page.goto(page.url)  # a clean page for the README: no leftover message, at the top
    page.evaluate("window.scrollTo(0, 0)")
    expect(page.locator("#change-summary")).to_contain_text("Changed")
    _screenshot(page, tmp_path)

    second = _export_delta(page, expected_count=4, expected_total="1,758.03")
    assert {row["employee_id"]: row["change_type"] for row in second} == {
        "E1001": "CHANGED",
        "E1003": "NEW",
        "E1004": "NEW",
        "E1006": "NEW",
    }
    assert next(row for row in second if row["employee_id"] == "E1001")["adjustment_amount"] == (
        "0.00"
    )

    page.locator("#session-header").get_by_role("link", name="Close session").click()
    dialog = page.locator("dialog[open]")
    dialog.get_by_label("Reason").fill("October reconciled and loaded into pVault")
    dialog.get_by_role("button", name="Close the session").click()
    expect(page.locator(".banner-closed")).to_contain_text("October reconciled")
    expect(page.locator("#session-header").get_by_role("link", name="Add receipts")).to_have_count(
        0
    )
    session = ProcessingSession.objects.get()
    assert session.is_closed
    assert not RecalcJob.objects.filter(status__in=["queued", "running"]).exists()


def test_a_viewer_reads_and_downloads_but_sees_no_write_controls(
    page: Any, live_server: Any, viewer: Any, make_session: Any, operator: Any
) -> None:
    from exports.services import export_batch_create

    expect = _expect()
    session = make_session()
    batch, _ = export_batch_create(session=session, export_type="pvault", actor=operator)
    _log_in(page, live_server.url, viewer.username)
    page.goto(f"{live_server.url}/sessions/{session.pk}/")
    expect(_row(page, "E1004")).to_contain_text("Missing receipts")
    expect(page.get_by_role("link", name="Add receipts")).to_have_count(0)
    expect(page.get_by_role("link", name="Export", exact=True)).to_have_count(0)
    with page.expect_download() as download_info:
        page.locator("#export-history").get_by_role("link", name="Download").click()
    assert download_info.value.suggested_filename == f"{batch.batch_code}.csv"
    # Sorting and filtering work in place, with a real address to share.
    page.locator("#employees").get_by_role("link", name="Card total").click()
    expect(page).to_have_url(re.compile(r"sort=car_amount"))
    expect(page.locator("#employees tbody tr").first).to_contain_text("E1008")
    _htmx_settled(page)
    page.locator("#employee-status").select_option("missing_receipts")
    expect(page.locator("#employees tbody tr")).to_have_count(3)
