from django.apps import AppConfig


class BackupsConfig(AppConfig):
    name = "bindery.backups"
    label = "backups"
    verbose_name = "Backups"
