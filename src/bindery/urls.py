from django.urls import include, path

from bindery.api.connectors import connectors_api
from bindery.api.main import api
from bindery.api.webhooks import webhooks_api
from bindery.backups.snapshot_endpoint import snapshot_view
from bindery.ops import admin as _ops_admin  # noqa: F401  (registers models on the ops site)
from bindery.ops.admin_site import ops_site
from bindery.ops.views import healthz
from bindery.privacy.views import notice as privacy_notice

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("privacy-notice", privacy_notice, name="privacy_notice"),
    path("_snapshot/", snapshot_view, name="backup_snapshot"),
    path("ops/", include("bindery.control.ops_urls")),
    path("ops/", include("bindery.backups.ops_urls")),
    path("ops/", ops_site.urls),
    path("api/v1/", api.urls),
    path("api/connectors/", connectors_api.urls),
    path("api/webhooks/", webhooks_api.urls),
    path("", include("bindery.web.urls")),
]
