from django.apps import AppConfig


class RecalcConfig(AppConfig):
    name = "recalc"
    verbose_name = "Recalculation"
