"""The shape of a firewall rule, shared by every detector family."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum, StrEnum

from bindery.security.waf.decode import Field, Target
from bindery.security.waf.request import WafRequest


class Family(StrEnum):
    SQLI = "sqli"
    XSS = "xss"
    LFI = "lfi"  # local file inclusion and path traversal
    RFI = "rfi"  # remote file inclusion
    COMMAND = "command"  # OS command injection
    PHP = "php"  # PHP code injection
    JAVA = "java"  # Java / expression-language injection (Log4Shell ...)
    SCANNER = "scanner"  # malicious and scanner user agents
    PROTOCOL = "protocol"  # protocol anomalies and attacks (smuggling, splitting, bad headers)


class Severity(IntEnum):
    """The anomaly score a rule adds, as in the OWASP CRS: one critical match reaches the default threshold."""

    CRITICAL = 5
    ERROR = 4
    WARNING = 3
    NOTICE = 2


class Form(StrEnum):
    """Which decoded form of a value a pattern runs on."""

    PLAIN = "plain"  # decoded, lowercase
    SQL = "sql"  # plus SQL comments replaced by spaces
    COMMAND = "command"  # plus shell quoting and escapes removed


ARGS = frozenset({Target.ARG, Target.ARG_NAME, Target.COOKIE, Target.COOKIE_NAME, Target.FILENAME})
ARGS_UA_REFERER = ARGS | {Target.USER_AGENT, Target.REFERER}
ALL_HEADERS = frozenset({Target.USER_AGENT, Target.REFERER, Target.HEADER})
EVERYWHERE = ARGS | ALL_HEADERS | {Target.PATH}


@dataclass(frozen=True)
class Rule:
    """A linear-time (RE2) pattern over decoded values; fires once per request at most."""

    id: str
    family: Family
    paranoia: int
    severity: Severity
    pattern: str
    targets: frozenset[Target] = ARGS
    form: Form = Form.PLAIN
    message: str = ""


@dataclass(frozen=True)
class Check:
    """A rule written as code, for what a pattern cannot say (library calls, header counts, sizes).

    ``fields`` checks run on each value (``Field`` and its plain decoded form) and return True
    when they match; ``request`` checks run once and return the messages of what they found.
    A field check must depend only on the field's target and value, never its name: the engine
    remembers the hits of short values per target (names and exclusions are applied afterwards).
    """

    id: str
    family: Family
    paranoia: int
    severity: Severity
    targets: frozenset[Target] = ARGS
    on_field: Callable[[Field, str], bool] | None = None
    message: str = ""


RequestCheck = Callable[[WafRequest, int], list[tuple[str, Family, Severity, str]]]
