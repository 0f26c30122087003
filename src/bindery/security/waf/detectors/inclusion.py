"""Local file inclusion, path traversal and remote file inclusion."""

from __future__ import annotations

from urllib.parse import urlsplit

from bindery.security.waf.decode import Field, Target
from bindery.security.waf.rules import ALL_HEADERS, ARGS, Check, Family, Rule, Severity

C = Severity.CRITICAL
_ARGS_HEADERS = ARGS | ALL_HEADERS

# Sensitive files and folders of Unix and Windows systems and of common applications.
_OS_FILES = (
    r"etc/(?:passwd|shadow|group|gshadow|master\.passwd|sudoers|hosts|hostname|issue|motd|crontab|fstab|"
    r"resolv\.conf|network|profile|bashrc|environment|security|pam\.d|ssh/|ssl/|mysql/|apache2?/|nginx/|"
    r"httpd/|php[0-9.]*/|sub[ug]id|os-release|lsb-release|inittab|aliases|exports|init\.d|rc\.d|cron|"
    r"knockd|logrotate|syslog|ldap|samba|vsftpd|proftpd|redis|postgresql|my\.cnf|shells|login\.defs|"
    r"opasswd|netplan|sysctl|x11|systemd)"
    r"|proc/(?:self|\d+)/(?:environ|cmdline|fd|maps|mem|status|cwd|exe|root|mounts)|proc/(?:version|cpuinfo|"
    r"meminfo|net/|mounts|sched_debug)|sys/(?:class|kernel|devices|module|power|block|bus|firmware)\b"
    r"|var/(?:log|mail|spool|lib/mysql|run/secrets|www/\.)|usr/local/(?:apache|etc|apps)"
    r"|(?:^|[\\/\s])\.(?:ssh|aws|docker|kube|gnupg|git|svn|hg|bzr|config|npmrc|pgpass|netrc|my\.cnf|mysql_history|"
    r"bash_history|zsh_history|history|bash_profile|bashrc|profile|viminfo|lesshst|psql_history|"
    r"python_history|node_repl_history|htaccess|htpasswd|htdigest|env|gitconfig|git-credentials|"
    r"dockerenv|dockercfg|boto|s3cfg|azure|terraform|vault-token|wp-config)(?:[\\/]|\b|$)"
    r"|\bid_(?:rsa|dsa|ecdsa|ed25519)\b|\bauthorized_keys\b|\bknown_hosts\b"
    r"|\b(?:boot|win|system)\.ini\b|\bwindows[\\/](?:system32|win\.ini|repair|panther|debug)"
    r"|\bsystem32[\\/]|\binetpub[\\/]|\bweb\.config\b|\bwp-config\.php\b|\bconfiguration\.php\b|"
    r"\blocalsettings\.php\b|\bconfig\.inc\.php\b|\bhttpd\.conf\b|\bphp\.ini\b|\bnginx\.conf\b"
    r"|\b(?:backup|dump|database|db)\.sql\b|\bapplication\.properties\b|\bdocker-compose\.ya?ml\b"
    r"|/tmp/(?:curl|wget|sh|bash|nc|x|a|t)\b"
)

RULES = (
    Rule("lfi-traversal", Family.LFI, 1, C, r"(?:^|[\\/;]|0x2f|0x5c)(?:\.|0x2e){2,3}(?:[\\/;]|0x2f|0x5c)",
         _ARGS_HEADERS, message="path traversal"),
    Rule("lfi-traversal-encoded", Family.LFI, 1, C,
         r"(?:0x2e|\.)(?:0x2e|\.)(?:0x2f|0x5c)|(?:0x2f|0x5c)(?:0x2e|\.)(?:0x2e|\.)|0x5c0x2e|\.\.\\|\.\.;",
         _ARGS_HEADERS | {Target.PATH}, message="encoded path traversal"),
    Rule("lfi-path-traversal", Family.LFI, 1, C, r"(?:^|/)\.{2,3}[\\/;]", frozenset({Target.PATH}),
         message="path traversal in the URL path"),
    Rule("lfi-os-file", Family.LFI, 1, C, _OS_FILES, _ARGS_HEADERS, message="sensitive file"),
    Rule("lfi-restricted-path", Family.LFI, 1, C,
         r"/\.(?:git|svn|hg|bzr|env|htaccess|htpasswd|ssh|aws|docker|ds_store|idea|vscode)(?:[/.]|$)|"
         r"/(?:wp-config\.php|web\.config|\.user\.ini|php\.ini|composer\.(?:json|lock)|package-lock\.json|"
         r"id_rsa|backup\.(?:sql|zip|tar|tgz))$",
         frozenset({Target.PATH}), message="restricted file in the URL path"),
    Rule("lfi-wrapper", Family.LFI, 1, C,
         r"\b(?:file|php|zip|phar|glob|expect|data|zlib|compress\.zlib|compress\.bzip2|ogg|rar|ssh2\.\w+|jar|"
         r"netdoc|gopher|dict|ldap|tftp)://", _ARGS_HEADERS | {Target.PATH},
         message="stream wrapper or local URL scheme"),
    Rule("lfi-null-extension", Family.LFI, 2, C, r"\.(?:php|asp|aspx|jsp|ini|conf|cfg|log|txt|bak)(?:%00|\x00)",
         ARGS, message="truncated extension"),
    Rule("lfi-absolute-path", Family.LFI, 3, Severity.WARNING, r"^(?:/|[a-z]:\\|\\\\)[\w.$-]+[\\/]", ARGS,
         message="absolute path"),
    Rule("rfi-ip-url", Family.RFI, 1, C,
         r"^\s*(?:file|ftps?|https?|gopher|dict|ldap)://(?:[^/@?#]*@)?(?:\d{1,3}(?:\.\d{1,3}){3}|\[?[0-9a-f]*:[0-9a-f:.]+"
         r"\]?|0x[0-9a-f]+|\d{8,10})(?:[:/?#]|$)", ARGS, message="URL with a literal IP address"),
    Rule("rfi-known-param", Family.RFI, 1, C,
         r"^(?:mosconfig_absolute_path|_conf\[path\]|_server\[document_root\]|gallery_basedir|path\[docroot\]|"
         r"appserv_root|config\[root_dir\]|mainfile|phpbb_root_path|sitepath|dir\[inc\]|cfg\[path\]\[include\])$",
         frozenset({Target.ARG_NAME}), message="parameter known from remote file inclusion exploits"),
    Rule("rfi-trailing-question", Family.RFI, 1, C, r"^\s*(?:file|ftps?|https?)://[^\s]*\?+\s*$", ARGS,
         message="URL ending in ? (include with the rest of the path cut off)"),
    Rule("rfi-include-call", Family.RFI, 1, C, r"\b(?:include|require)(?:_once)?\s*\(?\s*['\"]?\s*(?:file|ftps?|https?)://",
         ARGS, message="include of a URL"),
    Rule("rfi-path-url", Family.RFI, 2, C, r"/(?:file|ftps?|https?):/+", frozenset({Target.PATH}),
         message="URL inside the path"),
)


def _foreign_url(field: Field, value: str) -> bool:
    """A URL parameter pointing at a host: at paranoia 2, any URL in a parameter is suspect."""
    start = value.lstrip()[:12]
    if "://" not in start:
        return False
    try:
        return bool(urlsplit(value.strip()).hostname)
    except ValueError:
        return True


CHECKS = (
    Check("rfi-off-domain", Family.RFI, 2, C, frozenset({Target.ARG}), _foreign_url, "URL in a parameter"),
)
