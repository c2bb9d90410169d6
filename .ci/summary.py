"""Adds up pytest's final summary lines from CI logs and prints one line:
`N passed, M failed` (and `, K skipped` when any were skipped).

Usage: summary.py CONTRACT_STATUS LOG_STEM... (each stem without its `.log` suffix).
Errors count as failures; a log with no summary line, or one that ran no test, counts as
one failure.
The API contract run counts as one test, passed when CONTRACT_STATUS is 0."""

from __future__ import annotations

import re
import sys
from pathlib import Path

SUMMARY = re.compile(r"^=+ (.*) in [0-9.]+s.* =+$")
COUNT = re.compile(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed)")


def counts(log: Path) -> dict[str, int]:
    found: dict[str, int] = {"passed": 0, "failed": 0, "skipped": 0}
    lines = [
        m.group(1) for m in map(SUMMARY.match, log.read_text(errors="replace").splitlines()) if m
    ]
    tallies = COUNT.findall(lines[-1]) if lines else []
    if not tallies:  # no summary, or "no tests ran"
        found["failed"] = 1
        return found
    for number, kind in tallies:
        key = {"error": "failed", "errors": "failed", "xpassed": "failed", "xfailed": "passed"}
        found[key.get(kind, kind)] += int(number)
    return found


def main(argv: list[str]) -> int:
    total = {"passed": 0, "failed": 0, "skipped": 0}
    total["passed" if argv[1] == "0" else "failed"] += 1
    for stem in argv[2:]:
        for kind, number in counts(Path(f"{stem}.log")).items():
            total[kind] += number
    line = f"{total['passed']} passed, {total['failed']} failed"
    if total["skipped"]:
        line += f", {total['skipped']} skipped"
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
