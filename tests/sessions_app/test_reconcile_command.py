"""`reconcile` as the README shows it: on a fresh checkout (no SECRET_KEY, no DEBUG), with
its import summary, and explaining import profiles in --help."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

from django.core.management import call_command

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"


def fresh_checkout_run(*arguments: str) -> subprocess.CompletedProcess[str]:
    """manage.py in a process whose environment has no SECRET_KEY, DEBUG or test marker."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"SECRET_KEY", "DEBUG", "PYTEST_VERSION", "DJANGO_SETTINGS_MODULE"}
        and not key.startswith("PYTEST")
    }
    return subprocess.run(
        [sys.executable, "manage.py", "reconcile", *arguments],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_help_works_on_a_fresh_checkout_and_explains_profiles() -> None:
    result = fresh_checkout_run("--help")

    assert result.returncode == 0, result.stderr
    assert "SECRET_KEY" not in result.stderr
    assert "Import profiles" in result.stdout
    assert '"employee_id": ["Division", "Divison"]' in result.stdout
    assert "--suggest-profile" in result.stdout


def test_a_real_run_works_on_a_fresh_checkout(tmp_path: Path) -> None:
    result = fresh_checkout_run(
        "--card",
        str(FIXTURES / "car_2026_10.csv"),
        "--receipts",
        str(FIXTURES / "receipts_2026_10_v1.csv"),
        "--format",
        "json",
    )

    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert {row["employee_id"] for row in rows} >= {"E1001", "E1002"}
    assert "Import summary of card statement car_2026_10.csv:" in result.stderr
    assert "Lines read: 12" in result.stderr


def test_a_bad_file_exits_2_with_its_errors_on_a_fresh_checkout(tmp_path: Path) -> None:
    cut = tmp_path / "cut.csv"
    cut.write_bytes((FIXTURES / "car_2026_10.csv").read_bytes()[:300])

    result = fresh_checkout_run("--card", str(cut))

    assert result.returncode == 2
    assert "truncated" in result.stdout


def test_the_summary_goes_to_stdout_with_the_table() -> None:
    out = StringIO()

    call_command("reconcile", "--card", str(FIXTURES / "car_2026_10.csv"), stdout=out)

    text = out.getvalue()
    assert text.index("Import summary of card statement") < text.index("employee_id")
    assert "Blank rows: 1" in text
    assert "Control total:" in text


def test_json_output_stays_machine_readable_with_the_summary_on_stderr() -> None:
    out, err = StringIO(), StringIO()

    call_command(
        "reconcile",
        "--card",
        str(FIXTURES / "car_2026_10.csv"),
        "--format",
        "json",
        stdout=out,
        stderr=err,
    )

    json.loads(out.getvalue())
    assert "Employees:" in err.getvalue()
