"""`manage.py qcluster`: django-q2's command with a cluster that stops on SIGTERM within
Q_STOP_GRACE_SECONDS (recalc/cluster.py says why the stock one did not). The recalc app
comes before django_q in INSTALLED_APPS, so this command is the one manage.py runs."""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings
from django_q.management.commands.qcluster import Command as DjangoQCommand

from recalc.cluster import GracefulCluster


class Command(DjangoQCommand):
    def handle(self, *args: Any, **options: Any) -> None:
        settings.SECRET_KEY  # noqa: B018  (signing needs it: fail early, as django-q2 does)
        if options.get("cluster_name"):
            os.environ["Q_CLUSTER_NAME"] = options["cluster_name"]
        cluster = GracefulCluster()
        cluster.start()
        if options.get("run_once", False):
            cluster.stop()
        elif cluster.sentinel is not None:
            # Wait here rather than in interpreter shutdown, where the stock command waits.
            while cluster.sentinel.is_alive() and not cluster.has_stopped:
                cluster.sentinel.join(timeout=1.0)
