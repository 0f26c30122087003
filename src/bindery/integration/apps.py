from django.apps import AppConfig


class IntegrationConfig(AppConfig):
    name = "bindery.integration"
    label = "integration"
    verbose_name = "Integration"

    def ready(self) -> None:
        from django.conf import settings

        from bindery.integration import registry

        registry.load_configured(list(getattr(settings, "BINDERY_TECHNOLOGIES", [])))
        from bindery.integration import tasks  # noqa: F401  (registers the scheduler's jobs)
