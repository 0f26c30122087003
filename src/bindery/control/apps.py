from django.apps import AppConfig


class ControlConfig(AppConfig):
    name = "bindery.control"
    label = "control"
    verbose_name = "Control plane"
