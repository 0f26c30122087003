"""Benchmark: the firewall's inspection of a 10,000-product body, JSON (bulk API) and XML (connector import).

    .venv/bin/python bench/waf_bulk.py [--products 10000] [--rounds 5]

Every value of such a body is inspected (the firewall refuses what it cannot inspect), so this
is the cost a bulk route pays. It prints, per format, the body size, the median CPU and wall
time of one inspection, the CPU milliseconds per MiB against the bulk routes' allowance
(``BULK_MS_PER_MIB``: the headroom before a body of that shape would be refused), and, as the
baseline measured in the same run, the time of merely parsing the body (``json.loads`` or
defusedxml) — the least any inspection must cost.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    from defusedxml import ElementTree
    from tests.security.bulk_bodies import json_body, xml_body

    from bindery.security.waf.engine import MIB, Firewall
    from bindery.security.waf.exclusions import BULK_MAX_VALUES, BULK_MS_PER_MIB, Exclusion
    from bindery.security.waf.request import WafRequest

    firewall = Firewall(paranoia=1, threshold=5)
    routes = {"json": Exclusion(fields={"description_html": frozenset({"xss"}), "url": frozenset({"rfi"})},
                                budget_per_mib=BULK_MS_PER_MIB / 1000, max_values=BULK_MAX_VALUES),
              "xml": Exclusion(fields={"DescriptionHtml": frozenset({"xss"}), "ShortDescription": frozenset({"xss"})},
                               budget_per_mib=BULK_MS_PER_MIB / 1000, max_values=BULK_MAX_VALUES)}
    print(f"{args.products:,} products, {args.rounds} rounds, paranoia 1, bulk allowance {BULK_MS_PER_MIB:.0f} ms/MiB")
    print(f"{'format':6} {'MiB':>6} {'values':>8} {'distinct':>8} {'cpu ms':>8} {'wall ms':>8} {'ms/MiB':>7} "
          f"{'headroom':>8} {'parse ms':>9} {'x parse':>7} {'blocked':>7}")
    for kind, make, content_type, parse in (
            ("json", json_body, "application/json", json.loads),
            ("xml", xml_body, "text/xml", lambda body: ElementTree.fromstring(body, forbid_dtd=True))):
        body = make(None, args.products)
        request = WafRequest("POST", "/bulk", "", (("Content-Type", content_type), ("User-Agent", "erp/1.0")),
                             body, len(body))
        cpu, wall, parse_cpu = [], [], []
        for _ in range(args.rounds):  # alternate, so the machine's load weighs on both alike
            started, started_cpu = time.perf_counter(), time.thread_time()
            verdict = firewall.inspect(request, routes[kind])
            cpu.append(time.thread_time() - started_cpu)
            wall.append(time.perf_counter() - started)
            started_cpu = time.thread_time()
            parse(body)
            parse_cpu.append(time.thread_time() - started_cpu)
        mib = len(body) / MIB
        median = statistics.median(cpu)
        assert not verdict.uninspected, verdict.uninspected
        print(f"{kind:6} {mib:6.2f} {verdict.values:8,} {verdict.inspected:8,} {median * 1000:8.0f} "
              f"{statistics.median(wall) * 1000:8.0f} {median * 1000 / mib:7.0f} "
              f"{verdict.budget / median:7.1f}x {statistics.median(parse_cpu) * 1000:9.0f} "
              f"{median / statistics.median(parse_cpu):6.1f}x {verdict.blocked!s:>7}")


if __name__ == "__main__":
    main()
