"""Two real host processes on different ports sharing one control database on its own server.

A request to the wrong host is redirected (307) to the owner, for pages and APIs; with the
control database's server stopped for real, both hosts keep serving their own tenants and
still redirect from their cached directory.

The tenants reach their hosts by a move (A: host 2 → host 1, B: host 1 → host 2), which is how a
client ends up at the wrong host: it kept the old host's address, token and session.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.pgcluster import PrivateCluster
from tests.support.server import Platform, platform

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery staple 42"
pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)


def _scenario(plat: Platform, *args: str) -> dict[str, str]:
    done = subprocess.run([sys.executable, "-m", "tests.control.two_hosts_scenario", *args], env=plat.env,
                          cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, str] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done.stdout


def _host_db(plat: Platform) -> str:
    return plat.env.get("BINDERY_HOST_DATABASE_URL") or f"sqlite:///{plat.var_dir / 'host.sqlite3'}"


def _client(plat: Platform) -> httpx.Client:
    context = ssl.create_default_context(cafile=str(plat.cert))
    return httpx.Client(base_url=plat.url, verify=context, timeout=15, follow_redirects=False)


def _sign_in(plat: Platform, slug: str) -> httpx.Client:
    """Sign in through the real form (CSRF cookie and token included); return the signed-in client."""
    client = _client(plat)
    page = client.get("/login/")
    assert page.status_code == 200, page.text[-500:]
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert csrf is not None
    done = client.post("/login/", data={"csrfmiddlewaretoken": csrf[1], "workspace": slug,
                                        "email": f"owner@{slug}.example", "password": PASSWORD},
                       headers={"Referer": f"{plat.url}/login/"})
    assert done.status_code == 302, (done.status_code, done.text[-800:])
    return client


def _sign_in_elsewhere(plat: Platform, slug: str) -> httpx.Response:
    """Post the sign-in form for ``slug`` at ``plat``; return the answer (not followed)."""
    with _client(plat) as client:
        page = client.get("/login/")
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        assert csrf is not None
        return client.post("/login/", data={"csrfmiddlewaretoken": csrf[1], "workspace": slug,
                                            "email": f"owner@{slug}.example", "password": PASSWORD},
                           headers={"Referer": f"{plat.url}/login/"})


def _api(plat: Platform, token: str, path: str = "/api/v1/products?limit=50") -> httpx.Response:
    with _client(plat) as client:
        return client.get(path, headers={"Authorization": f"Bearer {token}"})


def _catalog(slug: str) -> list[str]:
    """The SKUs the scenario gave the tenant: three products with one variant each."""
    return sorted(f"{slug.upper()}-{i}{variant}" for i in range(3) for variant in ("", "-0"))


def _skus(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, (response.status_code, response.text[-500:])
    return sorted(item["sku"] for item in response.json()["items"])


@pytest.fixture
def two_hosts(tmp_path: Path, private_postgres: PrivateCluster) -> Iterator[tuple[Platform, Platform]]:
    shared = {"BINDERY_CONTROL_DATABASE_URL": private_postgres.create_database("control"),
              "BINDERY_SECRET_KEY": secrets.token_urlsafe(60),
              "BINDERY_MASTER_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("="),
              "BINDERY_DIRECTORY_TTL": "1", "BINDERY_DEMO": "false"}
    with platform(tmp_path / "h1", extra_env={**shared, "BINDERY_HOST_NAME": "h1"}) as h1, \
            platform(tmp_path / "h2", extra_env={**shared, "BINDERY_HOST_NAME": "h2"}) as h2:
        for plat in (h1, h2):
            _ok(plat.bindery("migrate", "--quiet", timeout=300))
        yield h1, h2


def test_wrong_host_redirects_and_both_hosts_survive_the_control_database_stopping(
        two_hosts: tuple[Platform, Platform], private_postgres: PrivateCluster) -> None:
    h1, h2 = two_hosts
    _scenario(h1, "hosts", "h1", h1.url, _host_db(h1), "h2", h2.url, _host_db(h2))
    token_a = _scenario(h2, "tenant", "a", "h2", PASSWORD)["token"]  # starts on host 2
    token_b = _scenario(h1, "tenant", "b", "h1", PASSWORD)["token"]  # starts on host 1
    _scenario(h2, "tenant", "c", "h2", PASSWORD)  # never on host 1
    for plat in (h1, h2):
        plat.start("web")
    for plat in (h1, h2):
        plat.wait_until_up()
    # Sessions opened while each tenant still lived on the host it is about to leave.
    b_on_h1, a_on_h2 = _sign_in(h1, "b"), _sign_in(h2, "a")
    assert b_on_h1.get("/catalog/products/").status_code == 200
    _ok(h1.bindery("tenants", "move", "b", "--to", "h2"))
    _ok(h1.bindery("tenants", "move", "a", "--to", "h1"))
    listed = _ok(h1.bindery("tenants", "list"))
    assert re.search(r"^a\s+\S+\s+h1\s+2\s+active", listed, re.M), listed
    assert re.search(r"^b\s+\S+\s+h2\s+2\s+active", listed, re.M), listed
    a_on_h1, b_on_h2 = _sign_in(h1, "a"), _sign_in(h2, "b")

    def assert_routing() -> None:
        # Each host serves its own tenant, pages and API.
        assert _skus(_api(h1, token_a)) == _catalog("a")
        assert _skus(_api(h2, token_b)) == _catalog("b")
        assert a_on_h1.get("/catalog/products/").status_code == 200
        assert b_on_h2.get("/catalog/products/").status_code == 200
        # The wrong host answers 307 to the owner's URL, same path and query (method and body kept).
        for wrong, owner, token, session in ((h1, h2, token_b, b_on_h1), (h2, h1, token_a, a_on_h2)):
            moved = _api(wrong, token)
            assert moved.status_code == 307, (moved.status_code, moved.text[-300:])
            assert moved.headers["location"] == f"{owner.url}/api/v1/products?limit=50"
            page = session.get("/catalog/products/?q=shirt")
            assert page.status_code == 307, (page.status_code, page.text[-300:])
            assert page.headers["location"] == f"{owner.url}/catalog/products/?q=shirt"
            posted = session.post("/catalog/products/", data={"x": "1"})
            assert posted.status_code == 307
            assert posted.headers["location"] == f"{owner.url}/catalog/products/"
        # Signing in at the wrong host sends the browser to the owner's sign-in page (no password re-posted).
        for wrong, owner, slug in ((h1, h2, "b"), (h2, h1, "a")):
            signing_in = _sign_in_elsewhere(wrong, slug)
            assert signing_in.status_code == 303, (signing_in.status_code, signing_in.text[-300:])
            assert signing_in.headers["location"] == f"{owner.url}/login/?workspace={slug}"

    assert_routing()
    never_here = _sign_in_elsewhere(h1, "c")  # host 1 never held c: the directory finds it by its slug
    assert never_here.status_code == 303
    assert never_here.headers["location"] == f"{h2.url}/login/?workspace=c"
    private_postgres.stop()  # the control database's server goes away for real
    assert not private_postgres.is_running()
    assert_routing()  # TTL is 1 s: every entry is stale now, so the hosts answer from their cache
    assert_routing()
    # A host restarted during the outage knows nothing from the directory: its own records decide.
    for proc in h1.processes:
        proc.terminate()
        proc.wait(timeout=30)
    h1.processes.clear()
    h1.start("web")
    h1.wait_until_up()
    assert _skus(_api(h1, token_a)) == _catalog("a")
    assert _sign_in(h1, "a").get("/catalog/products/").status_code == 200
    stale = _api(h1, token_b)  # only the fenced old copy of B is here: never served as if it were B's host
    assert stale.status_code == 503, (stale.status_code, stale.text[-300:])
    assert stale.headers["retry-after"] == "30"
    assert _sign_in_elsewhere(h1, "b").status_code == 503
    private_postgres.start()
    # The directory is back: redirected again once the host's back-off (at most 10 s) has passed.
    deadline = time.monotonic() + 30
    while (answer := _api(h1, token_b).status_code) == 503 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert answer == 307
