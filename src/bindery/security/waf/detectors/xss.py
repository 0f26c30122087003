"""Cross-site scripting: libinjection's HTML5 tokenizer, then patterns for tags, handlers and URIs.

A field that is meant to hold HTML (a product's ``description_html``) is excluded from this
family beside its route (see :mod:`bindery.security.waf.exclusions`); the rendering side
sanitizes it.
"""

from __future__ import annotations

import libinjection

from bindery.security.waf.decode import Field, Target
from bindery.security.waf.rules import ARGS, ARGS_UA_REFERER, Check, Family, Form, Rule, Severity

F = Family.XSS
C = Severity.CRITICAL
_XSS_TARGETS = ARGS_UA_REFERER | {Target.PATH}


_HTML_META = frozenset("<>=:(`\"'&")


def _libinjection(field: Field, value: str) -> bool:
    """libinjection's HTML5 tokenizer, on values that could open a tag, an attribute or a URI."""
    return not _HTML_META.isdisjoint(value) and bool(libinjection.is_xss(value)["is_xss"])


CHECKS = (
    Check("xss-libinjection", F, 1, C, ARGS_UA_REFERER, _libinjection, "XSS (libinjection)"),
)

_TAGS = (r"script|iframe|frame|frameset|object|embed|applet|svg|math|img|image|body|style|link|meta|base|form|"
         r"input|button|textarea|select|option|isindex|marquee|video|audio|source|track|details|dialog|template|"
         r"xml|xss|html|layer|ilayer|bgsound|blink|keygen|animate|animatetransform|set|handler|listener|"
         r"vmlframe|import|portal|noscript|noembed|title|plaintext|xmp|a|div|span|p|table|td|h1")

RULES = (
    Rule("xss-script-tag", F, 1, C, r"<\s*/?\s*script\b|<\s*script[\s/>]", _XSS_TARGETS, message="script tag"),
    Rule("xss-event-handler", F, 1, C,
         r"(?:^|[\s\"'`;/0-9=,(\x0b\x0c])on[a-z]{3,25}[\s\x0b\x0c;,(]*=(?:[^=]|$)",
         ARGS_UA_REFERER, message="event handler attribute"),
    Rule("xss-js-uri", F, 1, C,
         r"(?:j\s*a\s*v\s*a\s*s\s*c\s*r\s*i\s*p\s*t|v\s*b\s*s\s*c\s*r\s*i\s*p\s*t|livescript|mocha|jscript)\s*:|data\s*:\s*(?:text/html|image/svg|"
         r"application/(?:x-)?(?:javascript|ecmascript|xhtml))",
         _XSS_TARGETS, message="script URI"),
    Rule("xss-tag", F, 1, C,
         r"<\s*/?\s*(?:" + _TAGS + r")(?:[\s/>]|$)[^>]*(?:>|$|\s(?:src|href|data|action|formaction|style|"
         r"background|dynsrc|lowsrc|xlink:href|srcdoc)\s*=)",
         ARGS_UA_REFERER, message="HTML tag"),
    Rule("xss-dangerous-tag", F, 1, C,
         r"<\s*(?:iframe|frame|object|embed|applet|svg|math|base|meta|link|style|isindex|xml|import|portal|"
         r"vmlframe|handler|listener)\b", _XSS_TARGETS, message="tag that loads or runs content"),
    Rule("xss-dom", F, 1, C,
         r"\b(?:document\s*\.\s*(?:cookie|write|writeln|domain|location|body\.innerhtml)|window\s*\.\s*(?:location|"
         r"open|name)|\.innerhtml\s*=|\.outerhtml\s*=|\.fromcharcode\s*\(|\beval\s*\(|settimeout\s*\(|"
         r"setinterval\s*\(|new\s+function\s*\(|\balert\s*[(`]|\bprompt\s*[(`]|\bconfirm\s*[(`]|"
         r"import\s*\(\s*['\"`]|top\s*\[\s*['\"`])|\b(?:document|window|self|top|parent|frames)\s*\.\s*"
         r"(?:queryselector(?:all)?|getelementby\w+|createelement|textcontent|innertext|body|head|forms|images|"
         r"links|scripts|domain|referrer|url|opener|location|localstorage|sessionstorage)\b|"
         r"\.(?:innerhtml|outerhtml|insertadjacenthtml|srcdoc)\b",
         ARGS_UA_REFERER, Form.SQL, message="script DOM access"),
    Rule("xss-jsfuck", F, 1, C, r"!\s*\+?\s*\[\s*\]|\[\s*\]\s*\)\s*\[|\(\s*!\s*\[", ARGS,
         message="JSFuck-style obfuscated script"),
    Rule("xss-css", F, 1, C, r"expression\s*\(|-moz-binding\s*:|behavior\s*:\s*url|@import\b|"
         r"style\s*=[^>]*(?:url\s*\(\s*['\"]?\s*javascript|expression)", ARGS_UA_REFERER,
         message="CSS that runs script"),
    Rule("xss-attr-break", F, 1, C,
         r"[\"'`]\s*/?>\s*<|[\"'`]\s*(?:autofocus|onfocus|style|src|href)\s*=|<!\[cdata\[|<!entity|<!doctype\b",
         ARGS_UA_REFERER, message="attribute breakout"),
    Rule("xss-utf7", F, 1, C, r"\+adw-|\+ad4-|\+aci-", ARGS, message="UTF-7 encoded markup"),
    # Paranoia 2: markup that ordinary text rarely holds.
    Rule("xss-any-tag", F, 2, C, r"<\s*/?\s*[a-z][a-z0-9-]*[\s/>=]|<\s*[a-z][a-z0-9-]*$", ARGS_UA_REFERER,
         message="markup"),
    Rule("xss-js-calls", F, 2, C, r"\b(?:alert|prompt|confirm|eval|atob|btoa|fetch|xmlhttprequest)\b\s*[(`]|"
         r"\bconstructor\s*[(.\[]|\bself\s*\[|\bthis\s*\[|\bglobalthis\b", ARGS_UA_REFERER,
         message="script call"),
    Rule("xss-angle-brackets", F, 3, Severity.WARNING, r"[<>].*[<>]", ARGS, message="angle brackets"),
)
