#!/usr/bin/env python
"""Django's command-line utility for Closebook."""

import os
import sys

# Commands that serve nothing and sign nothing: they run on a fresh checkout without
# SECRET_KEY or DEBUG (settings then use a throwaway key for the one process).
OFFLINE_COMMANDS = {"reconcile", "help"}


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    if len(sys.argv) > 1 and sys.argv[1] in OFFLINE_COMMANDS:
        os.environ["CLOSEBOOK_OFFLINE_COMMAND"] = "1"
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
