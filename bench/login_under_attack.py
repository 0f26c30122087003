"""p95 of a real user's sign-in while 20 processes attack the same account, against no attack.

One command: ``.venv/bin/python bench/login_under_attack.py [--attackers 20] [--samples 40]``.

A real platform is started (``bindery migrate``, ``bindery demo``, ``bindery web`` over HTTPS on
a free port, SQLite) with ``BINDERY_TRUSTED_PROXIES=127.0.0.1/32`` so each request can say which
address it comes from in ``X-Forwarded-For``: the user signs in from one address (known after
their first sign-in); every attacker request comes from a new random address in 10.0.0.0/8 and
guesses the owner's password. The brute-force guard should throttle the attacked account for
unknown sources (refused before any password hashing) while the user's known address goes
through. Prints the user's p50/p95 sign-in time without and with the attack and the ratio, and
how the attackers' requests were answered.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
BINDERY = [str(ROOT / ".venv" / "bin" / "bindery")]
USER_IP = "198.51.100.7"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sign_in(base: str, workspace: str, email: str, password: str, ip: str) -> tuple[float, int]:
    """One sign-in as a browser does it (page, then form with its CSRF token); return seconds and status."""
    headers = {"X-Forwarded-For": ip, "Referer": f"{base}/login/"}
    with httpx.Client(base_url=base, verify=False, headers=headers, timeout=60) as client:  # noqa: S501 (self-signed, loopback)
        page = client.get("/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        data = {"workspace": workspace, "email": email, "password": password,
                "csrfmiddlewaretoken": token.group(1) if token else ""}
        started = time.perf_counter()
        response = client.post("/login/", data=data)
        return time.perf_counter() - started, response.status_code


def attacker(base: str, workspace: str, email: str, stop: Any, results: Any) -> None:
    counts: Counter[int] = Counter()
    rng = random.Random(os.getpid())
    while not stop.is_set():
        ip = f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        try:
            _, status = sign_in(base, workspace, email, f"guess-{rng.random()}", ip)
        except httpx.HTTPError:
            status = 0
        counts[status] += 1
    results.put(dict(counts))


def measure_user(base: str, workspace: str, email: str, password: str, samples: int) -> list[float]:
    times = []
    for _ in range(samples):
        seconds, status = sign_in(base, workspace, email, password, USER_IP)
        assert status == 302, f"the real user's sign-in answered {status}"
        times.append(seconds)
    return times


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[18] if len(values) >= 20 else max(values)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attackers", type=int, default=20)
    parser.add_argument("--samples", type=int, default=40)
    args = parser.parse_args()
    answered: Counter[int] = Counter()
    with tempfile.TemporaryDirectory() as var_dir:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("BINDERY_")}
        env.update(BINDERY_VAR_DIR=var_dir, BINDERY_HTTPS_PORT=str(port), BINDERY_HTTP_PORT="0",
                   BINDERY_TRUSTED_PROXIES="127.0.0.1/32", BINDERY_LOG_LEVEL="ERROR", BINDERY_QUEUE="immediate")
        subprocess.run([*BINDERY, "migrate", "--quiet"], env=env, check=True, timeout=600)
        demo = subprocess.run([*BINDERY, "demo"], env=env, check=True, capture_output=True, text=True, timeout=300)
        found = {k: re.search(rf"^\s*{k}:\s+(\S+)", demo.stdout, re.MULTILINE) for k in ("workspace", "e-mail",
                                                                                            "password")}
        workspace, email, password = (m.group(1) if m else "" for m in found.values())
        server = subprocess.Popen([*BINDERY, "web"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"https://localhost:{port}"
        try:
            deadline = time.time() + 120
            while time.time() < deadline:
                try:
                    if httpx.get(f"{base}/healthz", verify=False, timeout=2).status_code == 200:  # noqa: S501
                        break
                except httpx.HTTPError:
                    time.sleep(0.5)
            measure_user(base, workspace, email, password, 3)  # warm up; the address becomes known
            quiet = measure_user(base, workspace, email, password, args.samples)
            results: Any = multiprocessing.Queue()
            stop = multiprocessing.Event()
            attack = [multiprocessing.Process(target=attacker, args=(base, workspace, email, stop, results))
                      for _ in range(args.attackers)]
            for process in attack:
                process.start()
            time.sleep(5)  # let the attack reach the guard's thresholds
            attacked = measure_user(base, workspace, email, password, args.samples)
            stop.set()
            for _ in attack:
                answered.update(results.get(timeout=120))
            for process in attack:
                process.join(timeout=30)
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(f"attackers: {args.attackers} processes; their requests were answered {dict(answered)}")
    print(f"real user, no attack:   p50 {statistics.median(quiet) * 1000:7.1f} ms  p95 {p95(quiet) * 1000:7.1f} ms")
    print(f"real user, under attack: p50 {statistics.median(attacked) * 1000:7.1f} ms  "
          f"p95 {p95(attacked) * 1000:7.1f} ms")
    print(f"ratio (p95 under attack / p95 without): {p95(attacked) / p95(quiet):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
