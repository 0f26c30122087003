from django.apps import AppConfig


class SalesConfig(AppConfig):
    name = "bindery.sales"
    label = "sales"
    verbose_name = "Sales"
