from django.apps import AppConfig


class SecurityConfig(AppConfig):
    name = "bindery.security"
    label = "security"
    verbose_name = "Security"
