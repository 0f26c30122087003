"""Malicious and scanner user agents: vulnerability scanners, SQL injection and brute-force tools.

Only tools that announce themselves; ordinary HTTP clients (curl, python-requests, wget) are
how integrations talk to the API and are never flagged.
"""

from __future__ import annotations

from bindery.security.waf.decode import Target
from bindery.security.waf.rules import Family, Rule, Severity

_UA = frozenset({Target.USER_AGENT})
_SCANNERS = (
    r"nikto|sqlmap|nessus|nmap\b|nmap scripting engine|masscan|zgrab|zmeu|acunetix|netsparker|invicti|w3af|"
    r"dirbuster|gobuster|dirb\b|wpscan|joomscan|havij|arachni|openvas|nuclei|ffuf|wfuzz|feroxbuster|jaeles|"
    r"morfeus|skipfish|paros|webinspect|appscan|brutus|hydra|medusa|burpcollaborator|qualys|whatweb|"
    r"webshag|jorgee|zgrab|httpx - open-source|project discovery|commix|fimap|bsqlbf|"
    r"mysqloit|pangolin|sqlninja|absinthe|nsauditor|netlab360|isscyberriskcrawler|metis|muieblackcat|"
    r"scan(?:ner)?bot|vega/|webvulnscan|xenu|struts-pwn|ecairn-grabber-none|fuzz faster u fool|"
    r"\bcrowdstrike\b|\bnaxsi\b|\bmozilla/5\.0 sf/|w3 audit|black widow|autogetcontent|blackwidow|"
    r"\bdatacha0s\b|\bexploit\b|\bshellshock\b|\bpython-httpx/0\.1\b"
)

RULES = (
    Rule("scanner-user-agent", Family.SCANNER, 1, Severity.CRITICAL, r"(?:" + _SCANNERS + r")", _UA,
         message="security scanner user agent"),
    Rule("scanner-attack-tool-ua", Family.SCANNER, 2, Severity.CRITICAL,
         r"\b(?:libwww-perl|lwp-trivial|winhttp|harvest|email(?:collector|siphon|wolf)|extractorpro|"
         r"webbandit|webcopier|wget/1\.[0-9]\b.*\bmsie)\b", _UA, message="harvester or attack library user agent"),
)
