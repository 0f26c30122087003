"""The firewall's fast paths decide exactly as matching every rule one by one would.

The engine matches each value once per *distinct* decoded form against RE2 sets shared by
targets, and remembers the hits of short values. These tests compare it with the slow, obvious
way (each rule's pattern on its own form) and pin the memo's limits, plus two inputs that used
to make the inspection raise (and the middleware let the request through uninspected).
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
import re2

from bindery.security.waf.decode import Field, Target, command_form, normalize, sql_form
from bindery.security.waf.detectors import CHECKS, RULES
from bindery.security.waf.engine import CACHE_ENTRIES, CACHE_VALUE, Firewall
from bindery.security.waf.exclusions import Exclusion
from bindery.security.waf.request import WafRequest
from bindery.security.waf.rules import Form
from tests.security.test_waf_engine import ATTACKS, HEADERS

BENIGN = ["O'Brien, Via dell'Unione 1", "Select Drop Earrings \u2014 Union Square", "Cat bed; dog bed",
          "Ruby Red Dress (2019)", "<p>Soft <b>cotton</b> tee</p>", "50% off -- today only!", "a  b\tc\nd",
          "https://shop.example.com/p/1?utm_source=mail", "1/2\" brass fitting", "caf\u00e9 cr\u00e8me"]
VALUES = [payload for payloads in ATTACKS.values() for payload in payloads] + BENIGN + [
    "UNION/**/SELECT password/**/FROM users", "/bin/c'a't /e\"tc/pa\"sswd", "x'/**/or/**/'1'='1",
    "; c\\a\\t  /etc/passwd", "\uff1cscript\uff1e", "\\u003cscript\\u003e", "%u003cscript%u003e"]
TARGETS = [Target.ARG, Target.ARG_NAME, Target.COOKIE, Target.USER_AGENT, Target.REFERER, Target.HEADER,
           Target.PATH, Target.FILENAME]


def one_by_one(paranoia: int, target: Target, value: str) -> set[str]:
    """Every rule and check of the level that matches, each pattern compiled and run on its own."""
    plain = normalize(value)
    forms = {Form.PLAIN: plain, Form.SQL: sql_form(plain), Form.COMMAND: command_form(plain)}
    found = {rule.id for rule in RULES if rule.paranoia <= paranoia and target in rule.targets
             and re2.compile(rule.pattern).search(forms[rule.form]) is not None}
    field = Field(target, "q", value)
    found |= {check.id for check in CHECKS if check.paranoia <= paranoia and target in check.targets
              and check.on_field is not None and check.on_field(field, plain)}
    return found


@pytest.mark.parametrize("paranoia", [1, 2, 4])
def test_shared_sets_find_what_each_rule_finds_alone(paranoia: int) -> None:
    firewall = Firewall(paranoia=paranoia)
    compared = 0
    for target in TARGETS:
        for value in VALUES:
            rules, checks = firewall._hits(Field(target, "q", value))
            assert {r.id for r in rules} | {c.id for c in checks} == one_by_one(paranoia, target, value), (
                target, value)
            compared += 1
    assert compared == len(TARGETS) * len(VALUES)


def test_forms_are_shared_only_when_they_are_the_same_text() -> None:
    """command_form returns the value itself when there is nothing to undo, a new text otherwise."""
    plain = normalize("ruby red dress")
    assert command_form(plain) is plain
    assert sql_form(plain) is plain
    assert command_form("c'a't  /etc/passwd") == "cat /etc/passwd"
    assert command_form("a\tb\nc") == "a b c"
    assert sql_form("union/**/select") == "union select"


def test_memo_keeps_targets_and_exclusions_apart() -> None:
    """A remembered value is judged again for its own target and its own route's exclusions."""
    firewall = Firewall(paranoia=1)
    payload = "<script>alert(1)</script>"
    as_header = WafRequest("GET", "/", "", (*HEADERS, ("X-Note", payload)))
    as_arg = WafRequest("GET", "/", urlencode({"description_html": payload}), HEADERS)
    assert not firewall.inspect(as_header).blocked  # XSS rules do not look at arbitrary headers
    assert firewall.inspect(as_arg).blocked
    excluded = Exclusion(fields={"description_html": frozenset({"xss"})})
    assert not firewall.inspect(as_arg, excluded).blocked
    assert firewall.inspect(as_arg).blocked  # the exclusion did not stick to the value
    assert firewall.inspect(WafRequest("GET", "/", urlencode({"other": payload}), HEADERS), excluded).blocked


def test_memo_is_bounded_and_skips_long_values() -> None:
    firewall = Firewall(paranoia=1)
    for number in range(CACHE_ENTRIES + 10):
        firewall.inspect(WafRequest("GET", "/", urlencode({"q": f"value {number}"}), HEADERS))
        assert len(firewall._memo) <= CACHE_ENTRIES
    long_value = "x " * CACHE_VALUE + "' union select password from users --"  # noqa: S608 - an attack string
    firewall._memo.clear()
    assert firewall.inspect(WafRequest("GET", "/", urlencode({"q": long_value}), HEADERS)).blocked
    assert all(len(value) <= CACHE_VALUE for _, value in firewall._memo)


def test_lone_surrogates_are_inspected_not_crashed_on() -> None:
    """JSON may carry a lone UTF-16 surrogate ("\\ud800"); it cannot be UTF-8 encoded for RE2 or
    libinjection, and the exception used to leave the request uninspected."""
    firewall = Firewall(paranoia=1)
    body = b'{"q": "\\ud800\' union select password from users --", "n": "\\udfff<script>alert(1)</script>"}'
    assert json.loads(body)["q"][0] == "\ud800"
    request = WafRequest("POST", "/api/v1/products", "", (*HEADERS, ("Content-Type", "application/json"),
                                                           ("Content-Length", str(len(body)))), body, len(body))
    verdict = firewall.inspect(request)
    assert verdict.blocked
    assert {"sqli", "xss"} <= set(verdict.families)
    assert firewall.inspect(WafRequest("GET", "/", "q=%uD800%3Cscript%3Ealert(1)%3C/script%3E", HEADERS)).blocked


def test_many_query_fields_are_refused_not_crashed_on() -> None:
    """More pairs than the inspection limit used to raise inside the query parser, then to be scored and
    let through; now the verdict says the request was not inspected in full (the middleware refuses it)."""
    firewall = Firewall(paranoia=1)
    query = "&".join(["a=1"] * 6000) + "&b=2"
    verdict = firewall.inspect(WafRequest("GET", "/", query, HEADERS))
    assert verdict.truncated
    assert verdict.uninspected == "more than 5,000 values (this route's limit)"
    few = firewall.inspect(WafRequest("GET", "/", "a=1&q=%27%20union%20select%20password%20from%20users--", HEADERS))
    assert few.blocked
    assert "sqli" in few.families
