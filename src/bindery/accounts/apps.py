from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "bindery.accounts"
    label = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from bindery.accounts import sessions  # noqa: F401  (connects the sign-in receiver)
