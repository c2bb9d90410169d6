from django.apps import AppConfig


class ChasingConfig(AppConfig):
    name = "chasing"
    verbose_name = "Chasing receipts and reports"
