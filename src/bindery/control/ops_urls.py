"""URLs of the operators' host pages and API, mounted under /ops/ before the admin site."""

from django.urls import path

from bindery.control import views_ops
from bindery.ops import views_mfa, views_outbox, views_support
from bindery.ops.admin_site import ops_site
from bindery.security import views_ops as security_views

urlpatterns = [
    path("mfa/", views_mfa.operator_mfa, name="ops_mfa"),
    path("support/", ops_site.admin_view(views_support.support_page), name="ops_support"),
    path("support/<uuid:grant_id>/", ops_site.admin_view(views_support.support_grant), name="ops_support_grant"),
    path("support/<uuid:grant_id>/end/", ops_site.admin_view(views_support.support_end), name="ops_support_end"),
    path("outbox/", ops_site.admin_view(views_outbox.outbox), name="ops_outbox"),
    path("hosts/", ops_site.admin_view(views_ops.hosts_page), name="ops_hosts"),
    path("api/hosts", views_ops.api_hosts, name="ops_api_hosts"),
    path("api/tenants", views_ops.api_tenants, name="ops_api_tenants"),
    path("api/moves", views_ops.api_moves, name="ops_api_moves"),
    path("security/events/", ops_site.admin_view(security_views.events_page), name="ops_security_events"),
    path("api/security/events", security_views.api_events, name="ops_api_security_events"),
]
