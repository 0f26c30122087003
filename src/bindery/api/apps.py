from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "bindery.api"
    label = "api"
    verbose_name = "API"
