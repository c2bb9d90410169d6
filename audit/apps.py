from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit"

    def ready(self) -> None:
        from audit import signals  # noqa: F401  (failed-login recording)
        from audit.middleware import install_request_id_records

        install_request_id_records()
