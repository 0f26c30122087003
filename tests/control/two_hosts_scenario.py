"""Steps of the two-host routing scenario, run as ``python -m tests.control.two_hosts_scenario STEP ...``
with one host's environment (its own host database, the shared control database). Each step
prints one JSON line.

``hosts H1 URL1 DB1 H2 URL2 DB2``: registers both hosts in a datacenter (the second host's
database already migrated by its own ``bindery migrate``).
``tenant SLUG HOST PASSWORD``: creates the tenant on HOST (this process's own host), its owner
(``owner@SLUG.example``) and an API token; prints the token.
"""

from __future__ import annotations

import json
import os
import sys


def _setup_django() -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "bindery.settings"
    import django

    django.setup()


def hosts(*args: str) -> dict[str, object]:
    from bindery.control.hosts import do_add_datacenter, do_add_host

    dc = do_add_datacenter("fra1", "DE", actor="test")
    names = []
    for name, url, database in (args[0:3], args[3:6]):
        names.append(do_add_host(name, datacenter=dc, public_url=url, database_url=database, actor="test").name)
    return {"hosts": names}


def tenant(slug: str, host: str, password: str) -> dict[str, object]:
    from bindery.accounts.actions import do_create_user
    from bindery.accounts.models import Role
    from bindery.catalog.actions import do_bulk_upsert_products, do_create_price_list, do_create_warehouse
    from bindery.control.actions import do_create_tenant
    from bindery.control.hosts import access_host
    from bindery.control.models import LocalTenant
    from bindery.security.actions import do_create_api_token
    from tests.catalog.conftest import full_product

    do_create_tenant(slug, slug.upper(), host=access_host(host), actor="test")
    local = LocalTenant.objects.get(slug=slug)
    do_create_user(local, f"owner@{slug}.example", password, role=Role.OWNER, actor="test")
    do_create_warehouse(local, "main", name="Main", actor="test")
    do_create_price_list(local, "retail", "EUR", actor="test")
    do_bulk_upsert_products(local, [full_product(f"{slug.upper()}-{i}", variants=1) for i in range(3)],
                            actor="test")
    _token, plaintext = do_create_api_token(local, "erp", ["catalog:read"], actor="test")
    return {"tenant": str(local.pk), "token": plaintext}


def main(argv: list[str]) -> int:
    _setup_django()
    step, args = argv[0], argv[1:]
    result = {"hosts": hosts, "tenant": tenant}[step](*args)  # type: ignore[operator]
    print(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
