from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ControlConfig(AppConfig):
    name = "bindery.control"
    label = "control"
    verbose_name = "Control plane"

    def ready(self) -> None:
        from bindery.control.rls import install_policies_after_migrate

        # Sent once per app after every migration ran; ours is enough to cover all tables.
        post_migrate.connect(install_policies_after_migrate, sender=self, dispatch_uid="bindery.control.rls")
        from bindery.control.fencing import install_fences_after_migrate

        post_migrate.connect(install_fences_after_migrate, sender=self, dispatch_uid="bindery.control.fencing")
