"""Detector families: each module exposes ``RULES`` (RE2 patterns) and ``CHECKS`` (code)."""

from __future__ import annotations

from bindery.security.waf.detectors import command, inclusion, php_java, protocol, scanners, sqli, xss
from bindery.security.waf.rules import Check, Rule

RULES: tuple[Rule, ...] = (*sqli.RULES, *xss.RULES, *inclusion.RULES, *command.RULES, *php_java.RULES,
                           *scanners.RULES, *protocol.RULES)
CHECKS: tuple[Check, ...] = (*sqli.CHECKS, *xss.CHECKS, *inclusion.CHECKS, *protocol.CHECKS)
REQUEST_CHECKS = protocol.REQUEST_CHECKS
