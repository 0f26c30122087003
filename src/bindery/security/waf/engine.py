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
from itertools import combinations

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
    """Rules compiled into one RE2 set: one pass over a value tests them all."""

    def __init__(self, rules: list[Rule]) -> None:
        self.rules = rules
        options = re2.Options()
        options.max_mem = 64 << 20
        self.set = re2.Set.SearchSet(options)
        for rule in rules:
            self.set.Add(rule.pattern)
        self.set.Compile()

    def match(self, text: bytes) -> list[Rule]:
        """Return the rules matching ``text`` (UTF-8: encoded once per form, not once per set)."""
        return [self.rules[i] for i in self.set.Match(text) or ()]


class _FormSets:
    """The rules of a target in one RE2 set per union of decoded forms.

    Rules run on one of three decoded forms; for most values two or all three forms are the same
    text (no SQL comment, no shell quoting), so a set is compiled for every union of forms and a
    value takes one pass per *distinct* text instead of one per form. Targets with the same rules
    (query and form values, cookies, file names) share their sets, so RE2's lazily built DFAs
    warm up once for all of them. (One set for all targets, hits filtered by target, was tried:
    bigger DFAs cost more than sharing saves, 521k against 479k instructions per request.)
    """

    def __init__(self, rules: list[Rule]) -> None:
        by_form: dict[Form, list[Rule]] = defaultdict(list)
        for rule in rules:
            by_form[rule.form].append(rule)
        forms = sorted(by_form)
        self.groups: dict[frozenset[Form], _Group] = {}
        for size in range(1, len(forms) + 1):
            for combination in combinations(forms, size):
                self.groups[frozenset(combination)] = _Group([r for f in combination for r in by_form[f]])


class _TargetRules:
    """Everything that runs on the values of one target."""

    def __init__(self, target: Target, sets: _FormSets, rules: list[Rule], checks: list[Check]) -> None:
        self.target = target
        self.sets = sets
        self.forms = frozenset(rule.form for rule in rules)
        self.needs_sql = Form.SQL in self.forms
        self.needs_command = Form.COMMAND in self.forms
        self.checks = checks

    def hits(self, value: Field) -> tuple[list[Rule], list[Check]]:
        """Return every rule and check matching the value, before exclusions (a pure function of the value)."""
        plain = normalize(value.value)
        rules: list[Rule] = []
        if self.forms:
            texts: dict[str, set[Form]] = {plain: {Form.PLAIN}}
            if self.needs_sql:
                texts.setdefault(sql_form(plain), set()).add(Form.SQL)
            if self.needs_command:
                texts.setdefault(command_form(plain), set()).add(Form.COMMAND)
            target = self.target
            for text, forms in texts.items():
                forms &= self.forms
                if forms:
                    rules.extend(rule for rule in self.sets.groups[frozenset(forms)].match(text.encode("utf-8"))
                                 if target in rule.targets)
        checks = [check for check in self.checks if check.on_field is not None and check.on_field(value, plain)]
        return rules, checks


_Hits = tuple[list[Rule], list[Check]]
CACHE_VALUE = 512  # values up to this many characters have their hits remembered
CACHE_ENTRIES = 8192


class Firewall:
    """The compiled rules of one paranoia level; thread-safe once built (RE2 sets are read-only).

    Hits are a pure function of a value and its target, so short values seen before (the same
    User-Agent, Content-Type and parameter names on request after request) are looked up rather
    than matched again; the memo is bounded and simply emptied when full.
    """

    def __init__(self, *, paranoia: int = 1, threshold: int = 5, budget: float = DEFAULT_BUDGET) -> None:
        self.paranoia = paranoia
        self.threshold = threshold
        self.budget = budget
        rules: dict[Target, list[Rule]] = defaultdict(list)
        for rule in RULES:
            if rule.paranoia <= paranoia:
                for target in rule.targets:
                    rules[target].append(rule)
        checks: dict[Target, list[Check]] = defaultdict(list)
        for check in CHECKS:
            if check.paranoia <= paranoia:
                for target in check.targets:
                    checks[target].append(check)
        shared: dict[tuple[str, ...], _FormSets] = {}
        self._targets = {}
        for target in set(rules) | set(checks):
            key = tuple(rule.id for rule in rules.get(target, []))
            if key not in shared:
                shared[key] = _FormSets(rules.get(target, []))
            self._targets[target] = _TargetRules(target, shared[key], rules.get(target, []), checks.get(target, []))
        self._memo: dict[tuple[Target, str], _Hits] = {}

    def _hits(self, value: Field) -> _Hits:
        rules = self._targets.get(value.target)
        if rules is None:
            return [], []
        if len(value.value) > CACHE_VALUE:
            return rules.hits(value)
        key = (value.target, value.value)
        hits = self._memo.get(key)
        if hits is None:
            hits = rules.hits(value)
            if len(self._memo) >= CACHE_ENTRIES:
                self._memo.clear()
            self._memo[key] = hits
        return hits

    def _record(self, value: Field, hits: _Hits, exclusion: Exclusion, found: dict[str, Match]) -> None:
        skipped = exclusion.skipped_for(value)
        if value.target is Target.ARG and value.name.lower() in SECRET_FIELDS:
            skipped = skipped | _NOT_FOR_SECRETS
        where = f"{value.target}:{value.name[:80]}"
        items: tuple[Rule | Check, ...] = (*hits[0], *hits[1])
        for item in items:
            if item.id not in found and item.id not in skipped and item.family not in skipped:
                found[item.id] = Match(item.id, item.family, item.severity, where, item.message)

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
            hits = self._hits(value)
            if hits[0] or hits[1]:
                self._record(value, hits, exclusion, found)
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
