"""Benchmark: the application firewall against the OWASP CRS regression corpus, beside ModSecurity + CRS.

    .venv/bin/python bench/waf_score.py [--levels 1,2,3,4] [--no-modsecurity] [--misses FAMILY]

Reads ``../shared/corpora/waf/crs-dev.jsonl`` (relative to the project root; skipped with a
message when absent). For each paranoia level it prints, per CRS family, the detection rate on
``attack`` records (records whose ``required_pl`` is at most the level) and the false-positive
rate on ``benign`` records, then the median and p99 inspection time per request. Both firewalls
start cold (compiled, nothing matched yet) and take turns on blocks of 50 records, so the load
of a shared machine weighs on both timings alike.

In the same run it scores ModSecurity v3 with the OWASP CRS on the same records: the
``libmodsecurity`` wheel (installed by this script into ``.bench-cache/`` with pip) and the CRS
rules of Debian's ``modsecurity-crs`` package (fetched with ``apt-get download`` and unpacked
there). When either cannot be fetched it says so and reports Bindery's numbers only.

Response-phase families (950-959, 980) are skipped: both firewalls here inspect requests.
"""

from __future__ import annotations

import argparse
import base64
import glob
import importlib
import json
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpora" / "waf" / "crs-dev.jsonl"
CACHE = ROOT / ".bench-cache"
sys.path.insert(0, str(ROOT / "src"))

GOAL_FAMILIES = ("913", "930", "931", "932", "941", "942")
RESPONSE_FAMILIES = ("950", "951", "952", "953", "954", "955", "956", "959", "980")


def load(path: Path) -> list[dict]:
    records = [json.loads(line) for line in path.open(encoding="utf-8") if line.strip()]
    return [r for r in records if r["family"] not in RESPONSE_FAMILIES and r["label"] in ("attack", "benign")]


def body_of(record: dict) -> bytes:
    wire = record["wire"]
    if wire.get("body_b64"):
        return base64.b64decode(wire["body_b64"])
    return (wire.get("body") or "").encode("utf-8", errors="surrogateescape")


# --- Bindery ------------------------------------------------------------------------------------


def bindery_judge(level: int) -> Callable[[dict], bool]:
    from bindery.security.waf.engine import Firewall
    from bindery.security.waf.request import WafRequest

    firewall = Firewall(paranoia=level, threshold=5)

    def judge(record: dict) -> bool:
        request = record["request"]
        uri = request["uri"]
        path, _, query = uri.partition("?")
        body = body_of(record)
        headers = tuple((str(k), str(v)) for k, v in record["wire"]["headers"])
        waf_request = WafRequest(method=request["method"], path=unquote(path, errors="replace"), query_string=query,
                                 headers=headers, body=body, body_length=len(body),
                                 http_version=request.get("version") or "HTTP/1.1")
        return firewall.inspect(waf_request).blocked

    return judge


# --- ModSecurity + CRS --------------------------------------------------------------------------


def _modsecurity_module() -> object:
    target = CACHE / "modsecurity"
    sys.path.insert(0, str(target))
    try:
        import libmodsecurity
        return libmodsecurity
    except ImportError:
        pass
    target.mkdir(parents=True, exist_ok=True)
    print("installing libmodsecurity into", target, "...")
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--target", str(target),
                           "libmodsecurity"], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"pip install libmodsecurity failed: {done.stderr.strip()[-300:]}")
    importlib.invalidate_caches()
    import libmodsecurity
    return libmodsecurity


def _crs_rules() -> Path:
    unpacked = CACHE / "crs"
    rules = unpacked / "usr" / "share" / "modsecurity-crs" / "rules"
    if rules.is_dir():
        return unpacked
    unpacked.mkdir(parents=True, exist_ok=True)
    print("fetching Debian's modsecurity-crs into", unpacked, "...")
    done = subprocess.run(["apt-get", "download", "modsecurity-crs"], cwd=CACHE, capture_output=True, text=True)
    packages = sorted(glob.glob(str(CACHE / "modsecurity-crs_*.deb")))
    if not packages:
        raise RuntimeError(f"apt-get download modsecurity-crs failed: {done.stderr.strip()[-300:]}")
    subprocess.run(["dpkg-deb", "-x", packages[-1], str(unpacked)], check=True)
    return unpacked


def crs_version(unpacked: Path) -> str:
    name = Path(sorted(glob.glob(str(CACHE / "modsecurity-crs_*.deb")))[-1]).name if glob.glob(
        str(CACHE / "modsecurity-crs_*.deb")) else "modsecurity-crs"
    return name.removesuffix(".deb")


def modsecurity_judge(level: int) -> Callable[[dict], bool]:
    module = _modsecurity_module()
    crs = _crs_rules()
    setup = crs / "etc" / "modsecurity" / "crs" / "crs-setup.conf"
    rules_dir = crs / "usr" / "share" / "modsecurity-crs" / "rules"
    # 910 (IP reputation) needs a GeoIP-enabled build; it scores nothing in this corpus anyway.
    includes = "\n".join(f"Include {path}" for path in sorted(glob.glob(str(rules_dir / "*.conf")))
                          if "REQUEST-910" not in path)
    config = f"""
SecRuleEngine On
SecRequestBodyAccess On
SecRequestBodyLimit 13107200
SecRequestBodyNoFilesLimit 131072
SecRequestBodyLimitAction Reject
SecRule REQUEST_HEADERS:Content-Type "(?:application(?:/soap\\+|/)|text/)xml" \
  "id:'200000',phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=XML"
SecRule REQUEST_HEADERS:Content-Type "application/json" \
  "id:'200001',phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=JSON"
SecRule REQBODY_ERROR "!@eq 0" "id:'200002',phase:2,t:none,log,deny,status:400,msg:'body parse error'"
SecPcreMatchLimit 100000
SecPcreMatchLimitRecursion 100000
SecAuditEngine Off
Include {setup}
SecAction "id:900000,phase:1,nolog,pass,t:none,setvar:tx.paranoia_level={level}"
{includes}
"""
    engine = module.ModSecurity()  # type: ignore[attr-defined]
    engine.set_log_callback(lambda message: None)  # one line per matched rule otherwise
    ruleset = module.RulesSet()  # type: ignore[attr-defined]
    if ruleset.load(config) < 0:
        raise RuntimeError(f"CRS did not load: {ruleset.get_parser_error()}")

    def judge(record: dict) -> bool:
        request = record["request"]
        transaction = module.Transaction(engine, ruleset)  # type: ignore[attr-defined]
        transaction.process_connection("192.0.2.10", 40000, "127.0.0.1", 80)
        version = (request.get("version") or "HTTP/1.1").partition("/")[2] or "1.1"
        transaction.process_uri(request["uri"], request["method"], version)
        for name, value in record["wire"]["headers"]:
            transaction.add_request_header(str(name), str(value))
        transaction.process_request_headers()
        intervention = transaction.intervention()
        if intervention is not None and intervention.disruptive:
            return True
        body = body_of(record)
        if body:
            transaction.append_request_body(body)
        transaction.process_request_body()
        intervention = transaction.intervention()
        return intervention is not None and intervention.disruptive

    return judge


# --- scoring ------------------------------------------------------------------------------------


class Score:
    def __init__(self) -> None:
        self.attacks: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # family -> [detected, total]
        self.benign: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # family -> [blocked, total]
        self.times: list[float] = []
        self.missed: dict[str, list[str]] = defaultdict(list)
        self.false: dict[str, list[str]] = defaultdict(list)

    def add(self, record: dict, blocked: bool, level: int) -> None:
        family = record["family"]
        if record["label"] == "attack":
            if (record.get("required_pl") or 1) > level:
                return
            self.attacks[family][1] += 1
            self.attacks[family][0] += blocked
            if not blocked:
                self.missed[family].append(record["id"])
        else:
            self.benign[family][1] += 1
            self.benign[family][0] += blocked
            if blocked:
                self.false[family].append(record["id"])


BLOCK = 50  # records each judge runs in a row before the other takes its turn


def run(judges: list[Callable[[dict], bool]], records: list[dict], level: int) -> list[Score]:
    """Score every judge on every record. The judges take turns on blocks of ``BLOCK`` records,
    so a load change on a shared machine weighs on both timings alike, while neither runs with
    caches the other has just thrashed."""
    scores = [Score() for _ in judges]
    for start in range(0, len(records), BLOCK):
        block = records[start:start + BLOCK]
        for judge, score in zip(judges, scores, strict=True):
            for record in block:
                started = time.perf_counter()
                blocked = judge(record)
                score.times.append(time.perf_counter() - started)
                score.add(record, blocked, level)
    return scores


def percent(pair: list[int]) -> str:
    return f"{100 * pair[0] / pair[1]:5.1f}%" if pair[1] else "    -"


def total(counts: dict[str, list[int]], families: tuple[str, ...] | None = None) -> list[int]:
    pairs = [v for k, v in counts.items() if families is None or k in families]
    return [sum(p[0] for p in pairs), sum(p[1] for p in pairs)]


def timing(times: list[float]) -> str:
    ordered = sorted(times)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"median {statistics.median(ordered) * 1e6:7.0f} µs   p99 {p99 * 1e6:7.0f} µs"


def report(level: int, ours: Score, crs: Score | None) -> None:
    print(f"\n## Paranoia level {level}\n")
    families = sorted(set(ours.attacks) | set(ours.benign))
    print("| family | attacks | Bindery detects | CRS detects | benign | Bindery FP | CRS FP |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for family in families:
        a = ours.attacks.get(family, [0, 0])
        b = ours.benign.get(family, [0, 0])
        ca = crs.attacks.get(family, [0, 0]) if crs else [0, 0]
        cb = crs.benign.get(family, [0, 0]) if crs else [0, 0]
        print(f"| {family} | {a[1]} | {percent(a)} | {percent(ca) if crs else 'n/a'} | {b[1]} | {percent(b)} | "
              f"{percent(cb) if crs else 'n/a'} |")
    a, b = total(ours.attacks), total(ours.benign)
    line = f"| all | {a[1]} | {percent(a)} | "
    line += f"{percent(total(crs.attacks)) if crs else 'n/a'} | {b[1]} | {percent(b)} | "
    line += f"{percent(total(crs.benign)) if crs else 'n/a'} |"
    print(line)
    print(f"\nBindery inspection: {timing(ours.times)}")
    if crs:
        print(f"ModSecurity + CRS:  {timing(crs.times)}   "
              f"(Bindery {statistics.median(crs.times) / statistics.median(ours.times):.1f}x faster at the median)")


def goals(ours: Score, crs: Score | None) -> None:
    print("\n## Goals at paranoia level 1\n")
    if crs is None:
        print("ModSecurity + CRS not available: no side-by-side goal check.")
        return
    for family in GOAL_FAMILIES:
        groups = ("930", "931") if family in ("930", "931") else (family,)
        mine, theirs = total(ours.attacks, groups), total(crs.attacks, groups)
        ratio = (mine[0] / theirs[0]) if theirs[0] else 1.0
        print(f"- {family}: Bindery {mine[0]}/{mine[1]}, CRS {theirs[0]}/{theirs[1]}: "
              f"{100 * ratio:.0f}% of CRS's detections {'OK' if ratio >= 0.95 else 'BELOW 95%'}")
    fp, cfp = total(ours.benign), total(crs.benign)
    print(f"- false positives: Bindery {fp[0]}/{fp[1]}, CRS {cfp[0]}/{cfp[1]} "
          f"{'OK' if fp[0] <= cfp[0] else 'HIGHER THAN CRS'}")
    speed = statistics.median(crs.times) / statistics.median(ours.times)
    print(f"- speed: {speed:.1f}x ModSecurity's median {'OK' if speed >= 10 else 'BELOW 10x'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--levels", default="1,2,3,4")
    parser.add_argument("--no-modsecurity", action="store_true")
    parser.add_argument("--misses", default="", help="print the ids Bindery misses / wrongly blocks in these families")
    args = parser.parse_args()
    if not CORPUS.exists():
        print(f"skipped: corpus {CORPUS} not found (it lives in ../shared/corpora beside the project)")
        return 0
    records = load(CORPUS)
    print(f"# Application firewall benchmark\n\n{len(records)} request records from {CORPUS.name} "
          f"(attack and benign; response-phase families skipped)")
    modsecurity_error = "disabled with --no-modsecurity" if args.no_modsecurity else ""
    first: tuple[Score, Score | None] | None = None
    for level in (int(x) for x in args.levels.split(",")):
        judges = [bindery_judge(level)]
        if not modsecurity_error:
            try:
                judges.append(modsecurity_judge(level))
            except Exception as error:  # report our numbers whatever went wrong on the other side
                modsecurity_error = f"{type(error).__name__}: {error}"
                print(f"\nModSecurity + CRS unavailable ({modsecurity_error}); reporting Bindery only.")
        ours, *others = run(judges, records, level)
        crs: Score | None = others[0] if others else None
        report(level, ours, crs)
        if first is None:
            first = (ours, crs)
        for family in (f for f in args.misses.split(",") if f):
            print(f"\nmissed {family}: {' '.join(ours.missed.get(family, []))}")
            print(f"false positives {family}: {' '.join(ours.false.get(family, []))}")
            if crs:
                print(f"CRS missed {family}: {' '.join(crs.missed.get(family, []))}")
    if first and first[1] is not None and 1 in (int(x) for x in args.levels.split(",")):
        goals(*first)
    elif modsecurity_error:
        print(f"\nNo comparison: ModSecurity + CRS not run ({modsecurity_error}).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
