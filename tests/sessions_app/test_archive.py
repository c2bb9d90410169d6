"""Archiving closed sessions' lines to archive storage, and restoring them exactly."""

from __future__ import annotations

import gzip
import hashlib
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import FileSystemStorage, default_storage, storages
from django.db import connection

from audit.models import ActivityEvent
from core.errors import InvalidState
from core.faults import injected_fault
from exports.selectors import session_proof
from exports.services import export_batch_create
from sessions_app import archival
from sessions_app.archival import (
    ARCHIVED,
    FAILED,
    NOT_ARCHIVED,
    RESTORED,
    SKIPPED,
    WOULD_ARCHIVE,
    ArchiveCorrupt,
    archived_lines_notice,
    archived_statement_total,
    session_archive,
    session_restore,
    sessions_archive_closed_before,
)
from sessions_app.models import CardTransaction, ProcessingSession, ReceiptLine
from sessions_app.services import receipt_version_reapply, session_close

pytestmark = pytest.mark.django_db

CARD_TOTAL = Decimal("3087.03")  # the TRAILER control total of car_2026_10.csv


def use_archive_root(settings: Any, root: Path) -> FileSystemStorage:
    """Point the `archive` alias at a test folder (changing STORAGES resets Django's cached
    storage backends, so code that asks storages["archive"] gets this one)."""
    settings.ARCHIVE_ROOT = root
    settings.STORAGES = {
        **settings.STORAGES,
        "archive": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(root)},
        },
    }
    return storages["archive"]


def close(session: ProcessingSession, actor: Any) -> ProcessingSession:
    return session_close(session=session, reason="period reconciled and exported", actor=actor)


def line_snapshot(session: ProcessingSession) -> tuple[list[dict], list[dict]]:
    """Every field of every line, ids included, plus each receipt line's version number."""
    card = list(CardTransaction.objects.filter(session=session).order_by("pk").values())
    receipts = list(
        ReceiptLine.objects.filter(session=session)
        .order_by("pk")
        .values(*[f.attname for f in ReceiptLine._meta.concrete_fields], "receipt_version__version")
    )
    return card, receipts


def archive_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.fixture
def closed_session(
    make_session, upload_receipts, operator, django_capture_on_commit_callbacks
) -> ProcessingSession:
    """The samples' story: v1, a pVault export, v2, a rollback to v1 (v3 shares v1's file),
    then the session is closed."""
    session = make_session()
    export_batch_create(session=session, export_type="pvault", actor=operator)
    upload_receipts(session, "receipts_2026_10_v2.csv")
    with django_capture_on_commit_callbacks(execute=True):
        receipt_version_reapply(session=session, version_number=1, actor=operator)
    session.refresh_from_db()
    return close(session, operator)


def test_it_round_trips_every_line_and_keeps_the_proof_balanced(closed_session, operator, archive):
    lines_before = line_snapshot(closed_session)
    proof_before = session_proof(closed_session)
    assert proof_before.balanced and proof_before.statement_total == CARD_TOTAL
    assert len(lines_before[0]) == 12 and {
        r["receipt_version__version"] for r in lines_before[1]
    } == {
        1,
        2,
        3,
    }

    archived = session_archive(session=closed_session, actor=operator)

    closed_session.refresh_from_db()
    assert archived.outcome == ARCHIVED
    assert archived.rows == len(lines_before[0]) + len(lines_before[1])
    assert closed_session.archived_at is not None
    assert closed_session.archive_location == archived.location
    assert line_snapshot(closed_session) == ([], [])
    assert archived_statement_total(closed_session) == proof_before.statement_total
    assert session_proof(closed_session) == proof_before  # the proof still holds while archived

    restored = session_restore(session=closed_session, actor=operator)

    closed_session.refresh_from_db()
    assert restored.outcome == RESTORED and restored.rows == archived.rows
    assert line_snapshot(closed_session) == lines_before
    assert closed_session.archived_at is None and closed_session.archive_location == ""
    assert session_proof(closed_session) == proof_before


def test_it_writes_gzip_json_lines_and_a_sealed_manifest(closed_session, operator, archive):
    result = session_archive(session=closed_session, actor=operator)

    folder = Path(archive.location) / result.location
    manifest = json.loads((folder / "manifest.json").read_text())
    card = manifest["tables"]["card_transactions"]
    receipts = manifest["tables"]["receipt_lines"]
    assert manifest["schema_version"] == 1 and manifest["session"]["id"] == closed_session.pk
    assert card["rows"] == 12 and Decimal(card["amount_sum"]) == CARD_TOTAL
    assert set(receipts["by_receipt_version_number"]) == {"1", "2", "3"}
    assert receipts["by_receipt_version_number"]["1"] == receipts["by_receipt_version_number"]["3"]
    for name, entry in manifest["objects"].items():
        data = (folder / name).read_bytes()
        assert (hashlib.sha256(data).hexdigest(), len(data)) == (entry["sha256"], entry["size"])
    text = gzip.decompress((folder / card["object"]).read_bytes()).decode()
    rows = [json.loads(line) for line in text.splitlines()]
    refund = next(row for row in rows if row["amount"].startswith("-"))
    assert refund["amount"] == "-45.00" and refund["transaction_date"].count("-") == 2
    assert set(rows[0]) == {f.attname for f in CardTransaction._meta.concrete_fields}


def test_it_keeps_a_byte_identical_copy_of_every_uploaded_file(closed_session, operator, archive):
    result = session_archive(session=closed_session, actor=operator)

    folder = Path(archive.location) / result.location
    manifest = json.loads((folder / "manifest.json").read_text())
    sources = sorted(e["source"] for e in manifest["objects"].values() if "source" in e)
    versions = closed_session.receipt_versions.order_by("version")
    assert sources == sorted({closed_session.card_file.name, *(v.file.name for v in versions)})
    for source in sources:
        with default_storage.open(source, "rb") as original:
            assert (folder / "files" / source).read_bytes() == original.read()


def test_it_records_the_archive_and_the_restore_in_the_audit_trail(
    closed_session, operator, archive
):
    archived = session_archive(session=closed_session, actor=operator)
    session_restore(session=closed_session, actor=operator)

    event = ActivityEvent.objects.get(session=closed_session, verb="session_archived")
    assert event.actor == operator
    assert event.details["rows"] == archived.rows
    assert event.details["bytes_before"] > event.details["bytes_after"] > 0
    assert Decimal(event.details["ratio"]) == archived.ratio > 1
    assert event.details["card_amount_sum"] == str(CARD_TOTAL)
    restored = ActivityEvent.objects.get(session=closed_session, verb="session_restored")
    assert restored.details == {
        "location": archived.location,
        "rows": archived.rows,
        "manifest_sha256": event.details["manifest_sha256"],
    }
    reasons = list(closed_session.history.values_list("history_change_reason", flat=True)[:2])
    assert reasons == [
        f"lines restored from {archived.location}"[:100],
        f"lines archived to {archived.location}"[:100],
    ]


@pytest.mark.parametrize(
    "damaged", ["receipt_lines.jsonl.gz", "card_transactions.jsonl.gz", "files", "manifest.json"]
)
def test_it_detects_one_changed_byte_and_restores_nothing(
    closed_session, operator, archive, damaged
):
    result = session_archive(session=closed_session, actor=operator)
    folder = Path(archive.location) / result.location
    target = next(p for p in archive_files(folder) if damaged in str(p.relative_to(folder)))
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))

    with pytest.raises(ArchiveCorrupt):
        session_restore(session=closed_session, actor=operator)

    closed_session.refresh_from_db()
    assert line_snapshot(closed_session) == ([], [])
    assert closed_session.archived_at is not None
    assert not ActivityEvent.objects.filter(verb="session_restored").exists()


def test_it_refuses_a_manifest_rewritten_with_a_fresh_seal(closed_session, operator, archive):
    result = session_archive(session=closed_session, actor=operator)
    path = Path(archive.location) / result.location / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["tables"]["card_transactions"]["amount_sum"] = "1.00"
    manifest["seal"] = archival.manifest._seal(manifest)
    path.write_text(json.dumps(manifest))

    with pytest.raises(ArchiveCorrupt, match="not the one recorded"):
        session_restore(session=closed_session, actor=operator)

    assert not CardTransaction.objects.filter(session=closed_session).exists()


class FailingSaves:
    """Archive storage whose Nth save raises, as a full disk or a dropped connection would."""

    def __init__(self, storage: FileSystemStorage, fail_at: int) -> None:
        self.storage, self.fail_at, self.calls = storage, fail_at, 0
        self.real_save = storage.save

    def save(self, name: str, content: Any, **kwargs: Any) -> str:
        self.calls += 1
        if self.calls == self.fail_at:
            # Half an object on disk, as an interrupted write leaves it.
            (Path(self.storage.location) / name).parent.mkdir(parents=True, exist_ok=True)
            (Path(self.storage.location) / name).write_bytes(b'{"half": ')
            raise OSError(28, "No space left on device")
        return self.real_save(name, content, **kwargs)


# Objects written, in order: card lines, receipt lines, 3 files (card, v1, v2), manifest.
@pytest.mark.parametrize("fail_at", [1, 2, 3, 5, 6])
def test_it_leaves_the_lines_and_trusts_no_manifest_when_archiving_fails_midway(
    closed_session, operator, archive, monkeypatch, fail_at
):
    lines_before = line_snapshot(closed_session)
    monkeypatch.setattr(archive, "save", FailingSaves(archive, fail_at).save)

    with pytest.raises(OSError, match="No space left"):
        session_archive(session=closed_session, actor=operator)

    closed_session.refresh_from_db()
    assert line_snapshot(closed_session) == lines_before
    assert closed_session.archived_at is None and closed_session.archive_location == ""
    assert archive_files(Path(archive.location)) == []  # what was written is cleaned up
    assert not ActivityEvent.objects.filter(verb="session_archived").exists()


def test_it_trusts_no_leftover_when_even_the_cleanup_fails(
    closed_session, operator, archive, monkeypatch
):
    monkeypatch.setattr(archive, "save", FailingSaves(archive, 6).save)  # the manifest
    monkeypatch.setattr(archive, "delete", lambda name: (_ for _ in ()).throw(OSError("gone")))

    with pytest.raises(OSError):
        session_archive(session=closed_session, actor=operator)

    closed_session.refresh_from_db()
    half_written = next(p for p in archive_files(Path(archive.location)) if p.suffix == ".json")
    location = str(half_written.parent.relative_to(archive.location))
    with pytest.raises(ArchiveCorrupt, match="not valid JSON"):
        archival.manifest_read(storage=archive, location=location, session_id=closed_session.pk)
    assert closed_session.archived_at is None and closed_session.archive_location == ""
    assert CardTransaction.objects.filter(session=closed_session).count() == 12
    assert session_restore(session=closed_session, actor=operator).outcome == NOT_ARCHIVED


def test_it_keeps_the_lines_when_the_final_transaction_fails(
    closed_session, operator, archive, monkeypatch
):
    lines_before = line_snapshot(closed_session)

    def broken_event(session: ProcessingSession) -> None:
        raise RuntimeError("audit database unavailable")

    with injected_fault("archive.lines_removed", broken_event), pytest.raises(RuntimeError):
        session_archive(session=closed_session, actor=operator)

    closed_session.refresh_from_db()
    assert line_snapshot(closed_session) == lines_before
    assert closed_session.archived_at is None
    assert archive_files(Path(archive.location)) == []


@pytest.mark.parametrize("status", ["completed", "processing", "reprocessing", "failed"])
def test_it_refuses_to_archive_a_session_that_is_not_closed(
    make_session, operator, archive, status
):
    session = make_session()
    ProcessingSession.objects.filter(pk=session.pk).update(status=status)
    session.refresh_from_db()

    with pytest.raises(InvalidState, match=r"(?i)only closed sessions can be archived") as error:
        session_archive(session=session, actor=operator)

    assert "closed on" not in error.value.message  # not the "session is closed" wording
    assert CardTransaction.objects.filter(session=session).count() == 12
    assert archive_files(Path(archive.location)) == []


def test_it_skips_a_session_that_is_already_archived(closed_session, operator, archive):
    first = session_archive(session=closed_session, actor=operator)

    again = session_archive(session=closed_session, actor=operator)

    assert again.outcome == SKIPPED and "already archived" in again.message
    assert again.location == first.location
    assert ActivityEvent.objects.filter(verb="session_archived").count() == 1


def test_it_skips_when_another_run_archives_the_session_meanwhile(
    closed_session, operator, archive
):
    other_runs: list[Any] = []

    def meanwhile(rows: int) -> None:
        if not other_runs:  # another worker archives the same session while this one writes
            other_runs.append(session_archive(session=closed_session, actor=operator))

    result = session_archive(session=closed_session, actor=operator, on_rows=meanwhile)

    closed_session.refresh_from_db()
    assert result.outcome == SKIPPED and "another run" in result.message
    assert closed_session.archive_location == other_runs[0].location
    leftovers = {
        p.relative_to(archive.location).parts[2] for p in archive_files(Path(archive.location))
    }
    assert leftovers == {other_runs[0].location.rsplit("/", 1)[-1]}
    assert session_restore(session=closed_session, actor=operator).outcome == RESTORED


def test_it_changes_nothing_when_restoring_twice(closed_session, operator, archive):
    lines_before = line_snapshot(closed_session)
    session_archive(session=closed_session, actor=operator)
    session_restore(session=closed_session, actor=operator)

    again = session_restore(session=closed_session, actor=operator)

    assert again.outcome == NOT_ARCHIVED and "not archived" in again.message
    assert line_snapshot(closed_session) == lines_before
    assert ActivityEvent.objects.filter(verb="session_restored").count() == 1


def test_it_archives_again_after_a_restore_into_a_new_folder(closed_session, operator, archive):
    first = session_archive(session=closed_session, actor=operator)
    session_restore(session=closed_session, actor=operator)

    second = session_archive(session=closed_session, actor=operator)

    assert second.outcome == ARCHIVED and second.location != first.location
    assert second.rows == first.rows and second.bytes_after == first.bytes_after


def test_it_puts_back_an_uploaded_file_lost_since_archiving(closed_session, operator, archive):
    session_archive(session=closed_session, actor=operator)
    card_name = closed_session.card_file.name
    with default_storage.open(card_name, "rb") as original:
        card_bytes = original.read()
    default_storage.delete(card_name)

    result = session_restore(session=closed_session, actor=operator)

    assert result.files_put_back == 1
    with default_storage.open(card_name, "rb") as restored:
        assert restored.read() == card_bytes


def test_it_tells_where_the_lines_went_and_how_to_restore_them(closed_session, operator, archive):
    assert archived_lines_notice(closed_session) == ""

    session_archive(session=closed_session, actor=operator)

    closed_session.refresh_from_db()
    notice = archived_lines_notice(closed_session)
    assert closed_session.archive_location in notice
    assert f"restore_session {closed_session.pk}" in notice


def test_it_uses_the_archive_storage_alias_by_default(closed_session, operator, settings, tmp_path):
    storage = use_archive_root(settings, tmp_path / "elsewhere")

    result = session_archive(session=closed_session, actor=operator)

    assert storage.exists(f"{result.location}/manifest.json")


@pytest.mark.postgres
def test_it_moves_a_reset_id_sequence_past_the_restored_lines(closed_session, operator, archive):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL sequences")
    highest = max(CardTransaction.objects.values_list("pk", flat=True))
    session_archive(session=closed_session, actor=operator)
    with connection.cursor() as cursor:  # as a dump reload + sqlsequencereset would leave it
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('sessions_app_cardtransaction', 'id'), 1)"
        )

    session_restore(session=closed_session, actor=operator)

    new_line = CardTransaction.objects.create(
        session=closed_session, line_number=99, employee_id="E9999", amount=Decimal("1.00")
    )
    assert new_line.pk > highest


# --- Archiving many ---------------------------------------------------------------------------


@pytest.fixture
def three_sessions(make_session, operator, outsider) -> dict[str, ProcessingSession]:
    """Two closed sessions of Acme, one of another engagement, one Acme session still open."""
    from sessions_app.models import Engagement

    other = Engagement.objects.get(slug="other-co")
    sessions = {
        "acme_old": close(make_session(name="Acme September"), operator),
        "acme_open": make_session(name="Acme November"),
        "other_old": close(make_session(name="Other September", engagement=other), operator),
    }
    ProcessingSession.objects.filter(pk=sessions["acme_old"].pk).update(
        closed_at="2026-11-02T10:00:00Z"
    )
    ProcessingSession.objects.filter(pk=sessions["other_old"].pk).update(
        closed_at="2026-11-03T10:00:00Z"
    )
    return sessions


def test_it_archives_every_session_closed_before_the_date(three_sessions, archive):
    import datetime

    results = sessions_archive_closed_before(closed_before=datetime.date(2026, 11, 3))

    assert [(r.session_name, r.outcome) for r in results] == [("Acme September", ARCHIVED)]
    assert ProcessingSession.objects.filter(archived_at__isnull=False).count() == 1
    event = ActivityEvent.objects.get(verb="session_archived")
    assert event.actor is None and event.actor_label == "system"


def test_it_archives_only_the_engagement_asked_for(three_sessions, archive):
    import datetime

    other = three_sessions["other_old"].engagement

    results = sessions_archive_closed_before(
        closed_before=datetime.date(2026, 12, 1), engagement=other
    )

    assert [r.session_name for r in results] == ["Other September"]


def test_it_changes_nothing_on_a_dry_run(three_sessions, archive):
    import datetime

    lines = CardTransaction.objects.count() + ReceiptLine.objects.count()

    results = sessions_archive_closed_before(closed_before=datetime.date(2026, 12, 1), dry_run=True)

    assert [r.outcome for r in results] == [WOULD_ARCHIVE, WOULD_ARCHIVE]
    assert [r.rows for r in results] == [20, 20]  # 12 card + 8 receipt lines each
    assert CardTransaction.objects.count() + ReceiptLine.objects.count() == lines
    assert not ProcessingSession.objects.filter(archived_at__isnull=False).exists()
    assert archive_files(Path(archive.location)) == []
    assert not ActivityEvent.objects.filter(verb="session_archived").exists()


def test_it_reports_one_failed_session_and_archives_the_others(three_sessions, archive):
    import datetime

    default_storage.delete(three_sessions["acme_old"].card_file.name)

    results = sessions_archive_closed_before(closed_before=datetime.date(2026, 12, 1))

    outcomes = {r.session_name: (r.outcome, r.message) for r in results}
    assert outcomes["Acme September"][0] == FAILED
    assert "missing from storage" in outcomes["Acme September"][1]
    assert outcomes["Other September"][0] == ARCHIVED
    assert CardTransaction.objects.filter(session=three_sessions["acme_old"]).count() == 12
