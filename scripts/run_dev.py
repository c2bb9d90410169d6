"""`make run`: the development web server and one django-q2 worker, stopped together by Ctrl-C."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", default="8000")
    args = parser.parse_args()
    env = {**os.environ, "DEBUG": os.environ.get("DEBUG", "1")}
    python = sys.executable
    processes = [
        subprocess.Popen([python, "manage.py", "qcluster"], env=env),
        subprocess.Popen([python, "manage.py", "runserver", f"127.0.0.1:{args.port}"], env=env),
    ]
    print(f"Closebook on http://127.0.0.1:{args.port}/ (worker running). Ctrl-C stops both.")
    try:
        while all(process.poll() is None for process in processes):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
