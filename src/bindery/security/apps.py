from django.apps import AppConfig


class SecurityConfig(AppConfig):
    name = "bindery.security"
    label = "security"
    verbose_name = "Security"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in, user_login_failed

        from bindery.security.bruteforce import on_logged_in, on_login_failed

        user_login_failed.connect(on_login_failed, dispatch_uid="bindery.bruteforce.failed")
        user_logged_in.connect(on_logged_in, dispatch_uid="bindery.bruteforce.logged_in")
