from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "bindery.accounts"
    label = "accounts"
    verbose_name = "Accounts"
