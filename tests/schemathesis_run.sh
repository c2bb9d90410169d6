#!/usr/bin/env bash
# A bounded schemathesis run against /api/schema/ on a live development server:
# no 5xx for any generated request, every response conforms to the schema, and every
# error answer is JSON with error.code (tests/schemathesis_hooks.py).
#
# It seeds a throwaway database (a staff operator with a token, two sessions of the sample
# files, one export), serves it with `manage.py runserver` on a free loopback port, runs
# schemathesis with a fixed seed and a fixed number of examples per operation, and stops
# the server. Usage: bash tests/schemathesis_run.sh   (from anywhere; about a minute)
# Env: SCHEMATHESIS_EXAMPLES (default 10 per operation: ~350 requests in all),
# SCHEMATHESIS_SEED (default 1), SCHEMATHESIS_PHASES (default examples,fuzzing; add
# coverage for ~1,500 more boundary and negative cases, about 2.5 more minutes).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=.venv/bin/python
SCHEMATHESIS=.venv/bin/schemathesis
work=$(mktemp -d)
server_pid=""
cleanup() {
    if [[ -n "$server_pid" ]]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# A database of its own (never the developer's), jobs run inline, files in the temp dir.
export DEBUG=1 Q_SYNC=1 LOG_LEVEL=WARNING
export DATABASE_URL="sqlite:///$work/db.sqlite3"
export MEDIA_ROOT="$work/media" ARCHIVE_ROOT="$work/archive"
unset PYTEST_VERSION REDIS_URL || true

"$PY" manage.py migrate --noinput -v 0
token=$("$PY" manage.py shell -v 0 -c '
import datetime
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.authtoken.models import Token

from exports.services import export_batch_create
from sessions_app.services import engagement_create, membership_grant, session_create

def sample(name):
    return SimpleUploadedFile(name, (Path("tests/fixtures") / name).read_bytes())

user = get_user_model().objects.create_user("schemathesis", is_staff=True)
engagement = engagement_create(name="Fuzz Corp")
membership_grant(engagement=engagement, user=user)
for name in ("October 2026", "October 2026 (second card)"):
    session = session_create(
        engagement=engagement, name=name, tolerance="1.00", actor=user,
        period_start=datetime.date(2026, 10, 1), period_end=datetime.date(2026, 10, 31),
        card_file=sample("car_2026_10.csv"), receipts_file=sample("receipts_2026_10_v1.csv"),
    )
export_batch_create(session=session, export_type="pvault", actor=user)
print(Token.objects.create(user=user).key)
' | tail -n 1)

port=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$PY" manage.py runserver "127.0.0.1:$port" --noreload >"$work/server.log" 2>&1 &
server_pid=$!

for _ in $(seq 1 60); do
    # Any HTTP answer means the server is up (the schema itself needs a login: 401).
    if "$PY" -c "import urllib.request as u, urllib.error as e
try: u.urlopen('http://127.0.0.1:$port/api/schema/', timeout=2)
except e.HTTPError: pass" 2>/dev/null; then
        break
    fi
    sleep 0.5
done

# The SSE endpoint, as a client sees it: progress, then complete, then the stream ends.
events=$("$PY" - "$port" "$token" <<'EOF'
import sys
import urllib.request

port, token = sys.argv[1], sys.argv[2]
request = urllib.request.Request(
    f"http://127.0.0.1:{port}/api/v1/jobs/1/events/", headers={"Authorization": f"Token {token}"}
)
with urllib.request.urlopen(request, timeout=20) as response:
    print(response.read().decode())
EOF
)
if ! grep -q "^event: progress" <<<"$events" || ! grep -q "^event: complete" <<<"$events"; then
    echo "SSE stream under runserver did not give progress then complete:" >&2
    echo "$events" >&2
    exit 1
fi
echo "SSE under runserver: progress then complete"

# Most generated identifiers are those of the seeded objects, so requests reach real
# sessions, jobs, employees and batches; the rest exercise the 404s.
cat >"$work/schemathesis.toml" <<'EOF'
[dictionaries.ids]
values = [1, 2]
[dictionaries.employees]
values = ["E1001", "E1003", "E1008"]
[dictionaries.engagements]
values = ["fuzz-corp"]
[dictionaries.versions]
values = [1]

[parameters]
"path.id" = { dictionary = "ids", probability = 0.8 }
"path.employee_id" = { dictionary = "employees", probability = 0.8 }
"path.slug" = { dictionary = "engagements", probability = 0.8 }
"path.version" = { dictionary = "versions", probability = 0.5 }
"body.engagement" = { dictionary = "engagements", probability = 0.8 }
"body.batch_id" = { dictionary = "ids", probability = 0.8 }
EOF

status=0
# tests/schemathesis_hooks.py adds the check that every error answer is JSON with error.code.
export SCHEMATHESIS_HOOKS=tests.schemathesis_hooks PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
"$SCHEMATHESIS" --config-file "$work/schemathesis.toml" run "http://127.0.0.1:$port/api/schema/" \
    --header "Authorization: Token $token" \
    --checks not_a_server_error,response_schema_conformance,error_answers_are_json \
    --phases "${SCHEMATHESIS_PHASES:-examples,fuzzing}" \
    --max-examples "${SCHEMATHESIS_EXAMPLES:-10}" \
    --seed "${SCHEMATHESIS_SEED:-1}" \
    --workers 1 \
    --request-timeout 30 \
    --generation-database none \
    --suppress-health-check all \
    --no-color || status=$?

if [[ $status -ne 0 ]]; then
    echo "== server log (last 80 lines)" >&2
    tail -n 80 "$work/server.log" >&2
fi
exit $status
