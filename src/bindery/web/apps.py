from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "bindery.web"
    label = "web"
    verbose_name = "Console"
