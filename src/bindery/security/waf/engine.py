"""Anomaly scoring: every rule that matches adds its severity; the request is blocked at the threshold.

Rules are grouped by target and decoded form into RE2 sets, so one pass over a value tests all
of a group's patterns at once, in time linear in the value's length. Paranoia level N enables
the rules of levels 1..N.

Every value of a request is inspected, or the request is refused: a request with more values
than its route allows, or whose inspection runs past its budget (CPU time, so a busy machine
does not count against it), gets a verdict that says what was left uninspected, and the
middleware refuses it (413) unless the route declared otherwise. Bulk bodies stay affordable
because identical values are matched once per request, bare words and numbers are recognised
by a linear check and skipped, and the budget of a bulk route grows with its body
(:func:`~bindery.security.waf.exclusions.waf_bulk`).
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from itertools import combinations

import re2

from bindery.ops.collector import collector_paused
from bindery.security.waf.decode import MAX_FIELDS, Field, Target, command_form, normalize, parse, sql_form
from bindery.security.waf.detectors import CHECKS, REQUEST_CHECKS, RULES
from bindery.security.waf.detectors.protocol import MAX_BODY
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
DEFAULT_BUDGET = 0.05  # seconds of inspection (CPU time) per request, before a bulk route's allowance
MIB = 1024 * 1024
_CHECK_EVERY = 64  # values between two looks at the clock (and after any long value)
_LONG_VALUE = 4096


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
    uninspected: str = ""  # why part of the request was not inspected (empty: every value was)
    body_unread: bool = False  # the body was over the platform's limit or unreadable
    inspected: int = 0  # distinct values matched (identical values are matched once)
    values: int = 0  # values the request carries
    budget: float = 0.0  # the CPU seconds this request was allowed
    elapsed: float = 0.0
    cpu: float = 0.0

    @property
    def truncated(self) -> bool:
        """Part of the request was not inspected: the middleware refuses it unless the route allows."""
        return bool(self.uninspected)

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

    def hits(self, value: Field, skipped: frozenset[str] = frozenset()) -> tuple[list[Rule], list[Check]]:
        """Return every rule and check matching the value (a pure function of the value and ``skipped``).

        Checks of skipped families are not run (libinjection's XSS scan of an HTML description
        excluded from XSS is wasted work); rules are filtered later, they cost one pass anyway.
        """
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
        checks = [check for check in self.checks if check.on_field is not None and check.family not in skipped
                  and check.id not in skipped and check.on_field(value, plain)]
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

    def _hits(self, value: Field, skipped: frozenset[str] = frozenset()) -> _Hits:
        rules = self._targets.get(value.target)
        if rules is None:
            return [], []
        if skipped or len(value.value) > CACHE_VALUE:
            return rules.hits(value, skipped)
        key = (value.target, value.value)
        hits = self._memo.get(key)
        if hits is None:
            hits = rules.hits(value)
            if len(self._memo) >= CACHE_ENTRIES:
                self._memo.clear()
            self._memo[key] = hits
        return hits

    @staticmethod
    def _skipped(value: Field, exclusion: Exclusion) -> frozenset[str]:
        skipped = exclusion.skipped_for(value)
        if value.target is Target.ARG and value.name.lower() in SECRET_FIELDS:
            skipped = skipped | _NOT_FOR_SECRETS
        return skipped

    @staticmethod
    def _record(value: Field, hits: _Hits, skipped: frozenset[str], found: dict[str, Match]) -> None:
        where = f"{value.target}:{value.name[:80]}"
        items: tuple[Rule | Check, ...] = (*hits[0], *hits[1])
        for item in items:
            if item.id not in found and item.id not in skipped and item.family not in skipped:
                found[item.id] = Match(item.id, item.family, item.severity, where, item.message)

    def inspect(self, request: WafRequest, exclusion: Exclusion = NOTHING) -> Verdict:
        """Score the request; never raises on hostile input (a parsing failure is itself an anomaly).

        The verdict's ``uninspected`` says why part of the request was not inspected (too many
        values, the budget ran out, a body not read); the caller must not let such a request
        through unless its route said so.
        """
        # A full collection of a large process's heap (hundreds of ms) is not this request's cost:
        # CI once refused a 300 KB order "after 0 values" because one ran during its parse.
        with collector_paused():
            return self._inspect(request, exclusion)

    def _inspect(self, request: WafRequest, exclusion: Exclusion) -> Verdict:
        started = time.perf_counter()
        cpu_started = time.thread_time()
        verdict = Verdict(budget=self.budget + exclusion.budget_per_mib * len(request.body) / MIB)
        deadline = cpu_started + verdict.budget
        limit = exclusion.max_values or MAX_FIELDS
        found: dict[str, Match] = {}
        for check in REQUEST_CHECKS:
            for rule_id, family, severity, message in check(request, self.paranoia):
                if rule_id not in exclusion.skip and family not in exclusion.skip:
                    found[rule_id] = Match(rule_id, family, severity, "request", message)
        if request.body_length > len(request.body) or len(request.body) > MAX_BODY:
            verdict.body_unread = True
            verdict.uninspected = f"body of {max(request.body_length, len(request.body)):,} bytes not read " \
                                  f"(limit {MAX_BODY:,})"
        parsed = parse(request, limit)
        verdict.values = len(parsed.fields)
        if parsed.problems and "protocol-body" not in exclusion.skip:
            found["protocol-body"] = Match("protocol-body", Family.PROTOCOL, Severity.WARNING, "body",
                                           "; ".join(parsed.problems)[:200])
        if parsed.over_limit:
            verdict.uninspected = verdict.uninspected or f"more than {limit:,} values (this route's limit)"
        seen: dict[tuple[Target, str, frozenset[str]], _Hits] = {}  # identical values are matched once per request
        skips: dict[tuple[Target, str, str], frozenset[str]] = {}  # exclusions per parameter, looked up once
        for count, value in enumerate(parsed.fields):
            text = value.value
            if (count % _CHECK_EVERY == 0 or len(text) > _LONG_VALUE) and time.thread_time() > deadline:
                verdict.uninspected = verdict.uninspected or (
                    f"inspection budget of {verdict.budget * 1000:.0f} ms CPU ran out after {count:,} of "
                    f"{len(parsed.fields):,} values")
                break
            if not text or (value.target in _WORDS_SAFE and _bare_word(text)):
                continue  # a bare word or number matches no rule
            where = (value.target, value.name, value.path)
            skipped = skips.get(where)
            if skipped is None:
                skipped = skips[where] = self._skipped(value, exclusion)
            key = (value.target, text, skipped)
            hits = seen.get(key)
            if hits is None:
                hits = seen[key] = self._hits(value, skipped)
                verdict.inspected += 1
            if hits[0] or hits[1]:
                self._record(value, hits, skipped, found)
        verdict.matches = sorted(found.values(), key=lambda m: (-m.severity, m.rule))
        verdict.score = sum(m.severity for m in verdict.matches)
        verdict.blocked = verdict.score >= self.threshold
        verdict.elapsed = time.perf_counter() - started
        verdict.cpu = time.thread_time() - cpu_started
        return verdict


def _bare_word(text: str) -> bool:
    """A word, a whole number or a decimal (``Earrings``, ``8012345678901``, ``12.50``): no rule can match it.

    Linear C-level checks. Codes with ``-``, ``_`` or ``.`` between words are *not* bare:
    ``java.lang.Runtime``, ``web.config`` and ``information_schema.tables`` are what Java,
    file-inclusion and SQL rules look for (skipping them cost 23 points of 944 detection).
    """
    if len(text) > 64 or not text.isascii():
        return False
    if text.isalnum():
        return True
    whole, dot, fraction = text.partition(".")
    return bool(dot) and whole.isdigit() and fraction.isdigit()


_FIREWALLS: dict[tuple[int, int, float], Firewall] = {}


def firewall(*, paranoia: int, threshold: int, budget: float = DEFAULT_BUDGET) -> Firewall:
    """Return the process's compiled firewall for these settings (compiled once, on first use)."""
    key = (paranoia, threshold, budget)
    built = _FIREWALLS.get(key)
    if built is None:
        built = _FIREWALLS[key] = Firewall(paranoia=paranoia, threshold=threshold, budget=budget)
    return built
