from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "bindery.catalog"
    label = "catalog"
    verbose_name = "Catalog"
