"""The line tables' references to their session and receipts version become set-based
guards (see LINE_PARENT in sessions_app/models.py)."""

import django.db.models.deletion
from django.db import migrations, models


# --- The guards that stand in for the line tables' foreign keys -----------------------------
# PostgreSQL: per statement, over its transition table; the parents the new rows name are
# locked FOR KEY SHARE, as a foreign key's check would, so a concurrent delete of a parent
# waits or makes the insert fail. SQLite (small installs): per row, before insert/update.

SESSIONS = "sessions_app_processingsession"
VERSIONS = "sessions_app_receiptversion"
CARD_LINES = "sessions_app_cardtransaction"
RECEIPT_LINES = "sessions_app_receiptline"

POSTGRESQL_GUARDS = f"""
CREATE FUNCTION closebook_card_lines_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE wanted bigint; found bigint;
BEGIN
    SELECT count(DISTINCT session_id) INTO wanted FROM written;
    SELECT count(*) INTO found FROM (
        SELECT s.id FROM {SESSIONS} s WHERE s.id IN (SELECT session_id FROM written)
        FOR KEY SHARE
    ) parents;
    IF found < wanted THEN
        RAISE foreign_key_violation
            USING MESSAGE = 'A card line refers to a session that does not exist.';
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION closebook_receipt_lines_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE wanted bigint; found bigint;
BEGIN
    SELECT count(*) INTO wanted
        FROM (SELECT DISTINCT receipt_version_id, session_id FROM written) pairs;
    SELECT count(*) INTO found FROM (
        SELECT v.id FROM {VERSIONS} v
        JOIN (SELECT DISTINCT receipt_version_id, session_id FROM written) w
            ON v.id = w.receipt_version_id AND v.session_id = w.session_id
        FOR KEY SHARE OF v
    ) parents;
    IF found < wanted THEN
        RAISE foreign_key_violation USING MESSAGE =
            'A receipt line refers to a receipts version that does not exist in its session.';
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION closebook_line_parents_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = '{SESSIONS}' AND (
        EXISTS (SELECT 1 FROM removed r JOIN {CARD_LINES} c ON c.session_id = r.id)
        OR EXISTS (SELECT 1 FROM removed r JOIN {RECEIPT_LINES} l ON l.session_id = r.id)
    ) OR TG_TABLE_NAME = '{VERSIONS}' AND
        EXISTS (SELECT 1 FROM removed r JOIN {RECEIPT_LINES} l ON l.receipt_version_id = r.id)
    THEN
        RAISE foreign_key_violation USING MESSAGE =
            'Statement lines still refer to the ' || TG_TABLE_NAME || ' rows being deleted.';
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER card_lines_guard_insert AFTER INSERT ON {CARD_LINES}
    REFERENCING NEW TABLE AS written
    FOR EACH STATEMENT EXECUTE FUNCTION closebook_card_lines_guard();
CREATE TRIGGER card_lines_guard_update AFTER UPDATE ON {CARD_LINES}
    REFERENCING NEW TABLE AS written
    FOR EACH STATEMENT EXECUTE FUNCTION closebook_card_lines_guard();
CREATE TRIGGER receipt_lines_guard_insert AFTER INSERT ON {RECEIPT_LINES}
    REFERENCING NEW TABLE AS written
    FOR EACH STATEMENT EXECUTE FUNCTION closebook_receipt_lines_guard();
CREATE TRIGGER receipt_lines_guard_update AFTER UPDATE ON {RECEIPT_LINES}
    REFERENCING NEW TABLE AS written
    FOR EACH STATEMENT EXECUTE FUNCTION closebook_receipt_lines_guard();
CREATE TRIGGER sessions_lines_guard_delete AFTER DELETE ON {SESSIONS}
    REFERENCING OLD TABLE AS removed
    FOR EACH STATEMENT EXECUTE FUNCTION closebook_line_parents_guard();
CREATE TRIGGER versions_lines_guard_delete AFTER DELETE ON {VERSIONS}
    REFERENCING OLD TABLE AS removed
    FOR EACH STATEMENT EXECUTE FUNCTION closebook_line_parents_guard();
"""

POSTGRESQL_GUARDS_REMOVED = f"""
DROP TRIGGER card_lines_guard_insert ON {CARD_LINES};
DROP TRIGGER card_lines_guard_update ON {CARD_LINES};
DROP TRIGGER receipt_lines_guard_insert ON {RECEIPT_LINES};
DROP TRIGGER receipt_lines_guard_update ON {RECEIPT_LINES};
DROP TRIGGER sessions_lines_guard_delete ON {SESSIONS};
DROP TRIGGER versions_lines_guard_delete ON {VERSIONS};
DROP FUNCTION closebook_card_lines_guard();
DROP FUNCTION closebook_receipt_lines_guard();
DROP FUNCTION closebook_line_parents_guard();
"""

# SQLite runs a test database flush as one DELETE per table in any order, so parents are
# not guarded there; Django's collector deletes the lines before their session.
_SQLITE_CARD = f"""NOT EXISTS (SELECT 1 FROM {SESSIONS} WHERE id = NEW.session_id)"""
_SQLITE_RECEIPT = (
    f"NOT EXISTS (SELECT 1 FROM {VERSIONS} "
    "WHERE id = NEW.receipt_version_id AND session_id = NEW.session_id)"
)
SQLITE_GUARDS = [
    f"""CREATE TRIGGER {name} BEFORE {event} ON {table} WHEN {condition}
    BEGIN SELECT RAISE(ABORT, '{message}'); END"""
    for table, condition, message in (
        (CARD_LINES, _SQLITE_CARD, "A card line refers to a session that does not exist."),
        (
            RECEIPT_LINES,
            _SQLITE_RECEIPT,
            "A receipt line refers to a receipts version that does not exist in its session.",
        ),
    )
    for event, name in (
        ("INSERT", f"{table.rsplit('_', 1)[1]}_guard_insert"),
        ("UPDATE", f"{table.rsplit('_', 1)[1]}_guard_update"),
    )
]
SQLITE_GUARDS_REMOVED = [
    f"DROP TRIGGER {table.rsplit('_', 1)[1]}_guard_{event}"
    for table in (CARD_LINES, RECEIPT_LINES)
    for event in ("insert", "update")
]


def guards_install(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRESQL_GUARDS)
    elif vendor == "sqlite":
        for statement in SQLITE_GUARDS:
            schema_editor.execute(statement)


def guards_remove(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRESQL_GUARDS_REMOVED)
    elif vendor == "sqlite":
        for statement in SQLITE_GUARDS_REMOVED:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [
        ("sessions_app", "0002_revision_export_indexes"),
    ]

    operations = [
        migrations.AlterField(
            model_name="cardtransaction",
            name="session",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="card_transactions",
                to="sessions_app.processingsession",
            ),
        ),
        migrations.AlterField(
            model_name="receiptline",
            name="receipt_version",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="lines",
                to="sessions_app.receiptversion",
            ),
        ),
        migrations.AlterField(
            model_name="receiptline",
            name="session",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="receipt_lines",
                to="sessions_app.processingsession",
            ),
        ),
        migrations.RunPython(guards_install, guards_remove, elidable=False),
    ]
