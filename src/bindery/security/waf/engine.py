"""Anomaly scoring: every rule that matches adds its severity; the request is blocked at the threshold.

Rules are grouped by target and decoded form into RE2 sets, so one pass over a value tests all
of a group's patterns at once, in time linear in the value's length. Paranoia level N enables
the rules of levels 1..N. Inspection stops at a time budget: what was found by then decides,
and the verdict says the inspection was cut short.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field

import re2

from bindery.security.waf.decode import MAX_FIELDS, Field, Target, command_form, normalize, parse, sql_form
from bindery.security.waf.detectors import CHECKS, REQUEST_CHECKS, RULES
from bindery.security.waf.exclusions import NOTHING, Exclusion
from bindery.security.waf.request import WafRequest
from bindery.security.waf.rules import Check, Family, Form, Rule, Severity

# A bare word or number in these places matches no rule (a user agent like "nessus" does).
_WORDS_SAFE = frozenset({Target.ARG, Target.COOKIE, Target.COOKIE_NAME, Target.PATH})
# Secrets are hashed or compared, never interpreted: a real password may well read "' or 1=1 --".
# Only the protocol checks (null bytes, sizes) look at them.
SECRET_FIELDS = frozenset({"password", "password1", "password2", "old_password", "new_password1",
                           "new_password2", "current_password", "secret", "client_secret", "token"})
_NOT_FOR_SECRETS = frozenset(str(f) for f in Family if f is not Family.PROTOCOL)
DEFAULT_BUDGET = 0.05  # seconds of inspection per request


@dataclass(frozen=True)
class Match:
    rule: str
    family: Family
    severity: Severity
    where: str  # target and parameter name, never the value (it may be personal data)
    message: str = ""


@dataclass
class Verdict:
    score: int = 0
    matches: list[Match] = field(default_factory=list)
    blocked: bool = False
    truncated: bool = False  # the time budget or field limit stopped the inspection
    inspected: int = 0  # values inspected
    elapsed: float = 0.0

    @property
    def rules(self) -> list[str]:
        return [m.rule for m in self.matches]

    @property
    def families(self) -> list[str]:
        return sorted({str(m.family) for m in self.matches})


class _Group:
    """The rules of one target and form, compiled into one RE2 set."""

    def __init__(self, rules: list[Rule]) -> None:
        self.rules = rules
        options = re2.Options()
        options.max_mem = 64 << 20
        self.set = re2.Set.SearchSet(options)
        for rule in rules:
            self.set.Add(rule.pattern)
        self.set.Compile()

    def match(self, text: str) -> list[Rule]:
        return [self.rules[i] for i in self.set.Match(text) or ()]


class Firewall:
    """The compiled rules of one paranoia level; thread-safe once built (RE2 sets are read-only)."""

    def __init__(self, *, paranoia: int = 1, threshold: int = 5, budget: float = DEFAULT_BUDGET) -> None:
        self.paranoia = paranoia
        self.threshold = threshold
        self.budget = budget
        by_key: dict[tuple[Target, Form], list[Rule]] = defaultdict(list)
        for rule in RULES:
            if rule.paranoia <= paranoia:
                for target in rule.targets:
                    by_key[(target, rule.form)].append(rule)
        self._groups: dict[Target, list[tuple[Form, _Group]]] = defaultdict(list)
        for (target, form), rules in by_key.items():
            self._groups[target].append((form, _Group(rules)))
        self._checks: dict[Target, list[Check]] = defaultdict(list)
        for check in CHECKS:
            if check.paranoia <= paranoia:
                for target in check.targets:
                    self._checks[target].append(check)

    def _inspect_field(self, value: Field, skipped: frozenset[str], found: dict[str, Match]) -> None:
        plain = normalize(value.value)
        forms = {Form.PLAIN: plain}
        where = f"{value.target}:{value.name[:80]}"
        for form, group in self._groups.get(value.target, ()):
            text = forms.get(form)
            if text is None:
                text = forms[form] = sql_form(plain) if form is Form.SQL else command_form(plain)
            for rule in group.match(text):
                if rule.id not in found and rule.id not in skipped and rule.family not in skipped:
                    found[rule.id] = Match(rule.id, rule.family, rule.severity, where, rule.message)
        for check in self._checks.get(value.target, ()):
            if check.id in found or check.id in skipped or check.family in skipped:
                continue
            if check.on_field is not None and check.on_field(value, plain):
                found[check.id] = Match(check.id, check.family, check.severity, where, check.message)

    def inspect(self, request: WafRequest, exclusion: Exclusion = NOTHING) -> Verdict:
        """Score the request; never raises on hostile input (a parsing failure is itself an anomaly)."""
        started = time.perf_counter()
        deadline = started + self.budget
        verdict = Verdict()
        found: dict[str, Match] = {}
        for check in REQUEST_CHECKS:
            for rule_id, family, severity, message in check(request, self.paranoia):
                if rule_id not in exclusion.skip and family not in exclusion.skip:
                    found[rule_id] = Match(rule_id, family, severity, "request", message)
        parsed = parse(request)
        if parsed.problems and "protocol-body" not in exclusion.skip:
            found["protocol-body"] = Match("protocol-body", Family.PROTOCOL, Severity.WARNING, "body",
                                           "; ".join(parsed.problems)[:200])
        if len(parsed.fields) > MAX_FIELDS:
            found["protocol-too-many-fields"] = Match("protocol-too-many-fields", Family.PROTOCOL, Severity.WARNING,
                                                      "request", f"more than {MAX_FIELDS} parameters")
        for count, value in enumerate(parsed.fields):
            if count >= MAX_FIELDS or (count % 16 == 0 and time.perf_counter() > deadline):
                verdict.truncated = True
                break
            if not value.value or (value.target in _WORDS_SAFE and value.value.isalnum() and value.value.isascii()):
                continue  # a bare word or number matches no rule
            skipped = exclusion.skipped_for(value)
            if value.target is Target.ARG and value.name.lower() in SECRET_FIELDS:
                skipped = skipped | _NOT_FOR_SECRETS
            self._inspect_field(value, skipped, found)
            verdict.inspected += 1
        verdict.matches = sorted(found.values(), key=lambda m: (-m.severity, m.rule))
        verdict.score = sum(m.severity for m in verdict.matches)
        verdict.blocked = verdict.score >= self.threshold
        verdict.elapsed = time.perf_counter() - started
        return verdict


_FIREWALLS: dict[tuple[int, int, float], Firewall] = {}


def firewall(*, paranoia: int, threshold: int, budget: float = DEFAULT_BUDGET) -> Firewall:
    """Return the process's compiled firewall for these settings (compiled once, on first use)."""
    key = (paranoia, threshold, budget)
    built = _FIREWALLS.get(key)
    if built is None:
        built = _FIREWALLS[key] = Firewall(paranoia=paranoia, threshold=threshold, budget=budget)
    return built
