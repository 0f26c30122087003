"""URLs of the operators' backups page, API and metrics, mounted under /ops/ before the admin site."""

from django.urls import path

from bindery.backups import views_ops
from bindery.ops.admin_site import ops_site

urlpatterns = [
    path("backups/", ops_site.admin_view(views_ops.backups_page), name="ops_backups"),
    path("backups/distance-override", ops_site.admin_view(views_ops.distance_override),
         name="ops_backups_distance_override"),
    path("backups/restore-tenant", ops_site.admin_view(views_ops.restore_tenant), name="ops_backups_restore_tenant"),
    path("api/backups", views_ops.api_backups, name="ops_api_backups"),
    path("api/backups/restores", views_ops.api_restores, name="ops_api_backups_restores"),
    path("metrics/backups", views_ops.metrics_backups, name="ops_metrics_backups"),
]
