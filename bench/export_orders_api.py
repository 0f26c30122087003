"""Export orders through the connector URL over TLS: full middleware stack against security middleware off.

One command: ``.venv/bin/python bench/export_orders_api.py [--orders 1000] [--clients 2] [--seconds 15]``.

A real platform is prepared (``bindery migrate``, a tenant with N orders, one developer-API node
and one export-orders connector per client, export-once off, 100 orders per call) and served
twice at once on SQLite over HTTPS by granian: ``bindery web`` with every middleware, and the
same WSGI application with ``bench/nosecurity_settings.py`` (the blacklist, IP rules and
application firewall removed). Each client thread calls its own connector (one call per
connector runs at a time) for the given seconds, alternating between the two servers twice.
Prints requests/s and orders/s of both, and the ratio (goal at least 0.85).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python")
SEED = """
import json, os, sys
os.environ["DJANGO_SETTINGS_MODULE"] = "bindery.settings"
import django
django.setup()
sys.path.insert(0, {root!r})
from bindery.control.actions import do_create_tenant
from bindery.control.models import LocalTenant
from bindery.integration.actions import do_create_connector, do_create_node
from bindery.sales.actions import do_upsert_order
from bindery.security.actions import do_create_api_token
from tests.sales.factories import order_payload
do_create_tenant("bench", "Bench Ltd", actor="bench")
tenant = LocalTenant.objects.get(slug="bench")
for n in range({orders}):
    do_upsert_order(tenant, order_payload(str(100000 + n)), actor="bench")
calls = []
for c in range({clients}):
    node = do_create_node(tenant, f"erp{{c}}", "bindery_api", actor="bench")
    connector = do_create_connector(tenant, f"orders{{c}}", node, "export_orders",
                                    config={{"export_once": False, "max_orders": 100}}, actor="bench")
    token = do_create_api_token(tenant, "bench", ["sales:read"], node=node, actor="bench")[1]
    calls.append([f"/api/connectors/{{connector.pk}}/orders", token])
print(json.dumps(calls))
"""
NO_SECURITY_SERVER = """
import os, sys
from pathlib import Path
sys.path.insert(0, {bench!r})
os.environ["DJANGO_SETTINGS_MODULE"] = "nosecurity_settings"
from granian import Granian
from granian.constants import Interfaces
Granian("bindery.wsgi:application", address="127.0.0.1", port={port}, interface=Interfaces.WSGI, workers=1,
        ssl_cert=Path({cert!r}), ssl_key=Path({key!r}), log_access=False,
        blocking_threads=(os.cpu_count() or 1) * 2 + 1).serve()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(base: str, cert: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with httpx.Client(base_url=base, verify=cert, timeout=5) as client:
                if client.get("/healthz").status_code in (200, 503):
                    return
        except (httpx.HTTPError, OSError):
            pass
        time.sleep(0.3)
    raise SystemExit(f"server at {base} did not start")


def load(base: str, cert: str, calls: list[list[str]], seconds: float) -> tuple[float, int, int]:
    """Each thread calls its own connector until time is up; return (requests/s, orders, errors)."""
    done = [0] * len(calls)
    orders = [0] * len(calls)
    errors = [0] * len(calls)
    stop = time.monotonic() + seconds

    def client(i: int) -> None:
        path, token = calls[i]
        with httpx.Client(base_url=base, verify=cert, timeout=60, headers={"token": token}) as http:
            while time.monotonic() < stop:
                response = http.get(path)
                if response.status_code != 200:
                    errors[i] += 1
                    continue
                done[i] += 1
                orders[i] += response.text.count("<Document>")

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    return sum(done) / elapsed, sum(orders), sum(errors)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bindery-bench-") as var:
        port, bare_port = free_port(), free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("BINDERY_") and k != "DJANGO_SETTINGS_MODULE"}
        env.update(BINDERY_VAR_DIR=var, BINDERY_HTTPS_PORT=str(port), BINDERY_HTTP_PORT="0",
                   BINDERY_LOG_LEVEL="WARNING")
        subprocess.run([PYTHON, "-m", "bindery", "migrate", "--quiet"], env=env, check=True, timeout=600)
        seeded = subprocess.run([PYTHON, "-c", SEED.format(root=str(ROOT), orders=args.orders,
                                                           clients=args.clients)],
                                env=env, check=True, capture_output=True, text=True, timeout=1800)
        calls = json.loads(seeded.stdout.strip().splitlines()[-1])
        servers = [subprocess.Popen([PYTHON, "-m", "bindery", "web"], env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)]
        cert = str(Path(var) / "tls" / "localhost.crt")
        key = str(Path(var) / "tls" / "localhost.key")
        try:
            full = f"https://localhost:{port}"
            wait_up(full, cert)
            servers.append(subprocess.Popen(
                [PYTHON, "-c", NO_SECURITY_SERVER.format(bench=str(ROOT / "bench"), port=bare_port, cert=cert,
                                                         key=key)],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            bare = f"https://localhost:{bare_port}"
            wait_up(bare, cert)
            load(full, cert, calls, 2)  # warm both up
            load(bare, cert, calls, 2)
            results: dict[str, list[tuple[float, int, int]]] = {"full": [], "bare": []}
            for _ in range(2):
                results["full"].append(load(full, cert, calls, args.seconds))
                results["bare"].append(load(bare, cert, calls, args.seconds))
        finally:
            for server in servers:
                server.terminate()
                server.wait(timeout=30)
    rps = {name: statistics.mean(r[0] for r in runs) for name, runs in results.items()}
    errors = {name: sum(r[2] for r in runs) for name, runs in results.items()}
    print(f"orders in the hub: {args.orders}; {args.clients} clients; 100 orders per call; "
          f"2 x {args.seconds:.0f} s per configuration")
    for name, label in (("full", "full middleware stack"), ("bare", "security middleware off")):
        print(f"{label:26} {rps[name]:8.1f} requests/s {rps[name] * 100:9.0f} orders/s  errors {errors[name]}")
    print(f"ratio (full / security off): {rps['full'] / rps['bare']:.2f}  (goal >= 0.85)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
