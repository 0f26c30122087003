from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "bindery.ops"
    label = "ops"
    verbose_name = "Operations"

    def ready(self) -> None:
        from django.utils.module_loading import autodiscover_modules

        from bindery.ops import checks  # noqa: F401  (registers system checks)

        # Jobs register themselves with the queue when their module is imported.
        autodiscover_modules("tasks")
