"""PHP and Java code injection: the shapes that reach an interpreter (open tags, wrappers, JNDI)."""

from __future__ import annotations

from bindery.security.waf.rules import ALL_HEADERS, ARGS, ARGS_UA_REFERER, Family, Rule, Severity

C = Severity.CRITICAL

RULES = (
    Rule("php-open-tag", Family.PHP, 1, C, r"<\?(?:php\b|=|\s)|\?>\s*$|\[\?php\b", ARGS, message="PHP open tag"),
    Rule("php-functions", Family.PHP, 1, C,
         r"\b(?:system|exec|shell_exec|passthru|popen|proc_open|pcntl_exec|eval|assert|create_function|"
         r"call_user_func(?:_array)?|preg_replace|base64_decode|gzinflate|str_rot13|file_get_contents|"
         r"file_put_contents|fopen|fwrite|readfile|highlight_file|show_source|phpinfo|unserialize|"
         r"move_uploaded_file|include|include_once|require|require_once|var_dump|print_r|chr|ini_set|"
         r"array_map|usort|ob_start|putenv)\(.*\)", ARGS, message="PHP function call"),
    Rule("php-superglobals", Family.PHP, 1, C, r"\$_(?:get|post|cookie|request|server|env|files|session)\b|"
         r"\$globals\b|\bphp://(?:input|filter|stdin|memory|temp|fd)", ARGS, message="PHP variable or stream"),
    Rule("php-serialized", Family.PHP, 1, C, r"(?:^|;|\{)\s*[oc]:\d+:\"[\w\\]+\":\d+:\{", ARGS,
         message="PHP serialized object"),
    Rule("php-config-directive", Family.PHP, 1, C,
         r"\b(?:auto_prepend_file|auto_append_file|allow_url_include|disable_functions|open_basedir|"
         r"safe_mode)\s*=", ARGS, message="PHP configuration directive"),
    Rule("java-jndi", Family.JAVA, 1, C, r"\$\{[^}]*(?:jndi|ctx|env|sys|lower|upper|date|::-)[^}]*[:}]",
         ARGS_UA_REFERER | ALL_HEADERS, message="JNDI / Log4Shell lookup"),
    Rule("java-classes", Family.JAVA, 1, C,
         r"\bjava\.lang\.(?:runtime|processbuilder|system|class|reflect)|\bgetruntime\s*\(|\.exec\s*\(|"
         r"\bprocessbuilder\b|\bclass\.module\.classloader|\bclassloader\b|\bjavax\.script|"
         r"\borg\.apache\.(?:commons|struts2?|xalan)|\bcom\.opensymphony\.xwork2|\b_memberaccess|"
         r"@ognlcontext|\bnew\s+java\.|\bjava\.io\.(?:file|objectinputstream)|\bjava\.util\.scanner|"
         r"\bscriptenginemanager|\bt\(java\.|\bxwork\.methodaccessor",
         ARGS_UA_REFERER | ALL_HEADERS, message="Java class used in an exploit"),
    Rule("java-serialized", Family.JAVA, 1, C, r"\xac\xed\x00\x05|ro0ab|aced0005", ARGS,
         message="Java serialized object"),
    Rule("java-el", Family.JAVA, 2, C, r"[#$%]\{.*(?:\(|\.|\[).*\}", ARGS, message="expression language"),
)
