"""OS command injection: shell separators followed by commands, shell expansions, Windows shells.

Patterns run on the "command form" of a value (quotes, backslashes and carets removed, so
``c'a't`` reads ``cat``). A command word alone is not an attack ("tar is a dark liquid",
"time warner"): it must follow a shell separator, start the value with arguments that look
like a shell's, or come with its full path.
"""

from __future__ import annotations

from bindery.security.waf.rules import ARGS, ARGS_UA_REFERER, Family, Form, Rule, Severity

F = Family.COMMAND
C = Severity.CRITICAL
K = Form.COMMAND

# Commands an attacker runs first (recon, download, shells, interpreters) that are not English words.
_STRONG = (
    r"ls|id|whoami|uname|wget|curl|nc|ncat|netcat|socat|bash|sh|zsh|ksh|csh|tcsh|busybox|python[0-9.]+|"
    r"php[0-9]+|nmap|telnet|ifconfig|ipconfig|netstat|passwd|chmod|chown|base64|nslookup|mkfifo|mknod|rm|"
    r"tftp|ftp|ssh|scp|sftp|rsync|nohup|sudo|crontab|useradd|usermod|pkill|killall|xterm|gcc|printenv|env|"
    r"eval|exec|awk|gawk|sed|grep|egrep|xargs|xxd|hexdump|gunzip|gzip|bzip2|unxz|xz|zcat|unzip|7z|openssl|"
    r"lwp-download|lwp-request|getent|systemctl|chattr|lsof|pwd|hostname|uptime|umount|whereis|setsid|"
    r"php-fpm|aa-disable|ansible|cscli|visudo|kubectl|apt-get|yum|dnf|apk|pip[0-9]*|npm|javac|"
    r"jrunscript|powershell|pwsh|cmd|cmd\.exe|certutil|bitsadmin|wmic|mshta|rundll32|regsvr32|cscript|"
    r"wscript|bcdboot|bcdedit|schtasks|tasklist|taskkill|systeminfo|nltest|vssadmin|iwr|iex|iwmi|"
    r"invoke-\w+|start-process|new-object|c99|c89|tclsh|irb|jjs|gdb|strace|ltrace|nsenter|capsh|setcap|"
    r"getcap|runuser|pkexec|doas|sendmail|xdg-open|nproc|ldd|objdump|readelf|chpasswd|shred|wall|"
    r"dmesg|lsmod|insmod|modprobe|iptables|nft|tcpdump|ssh-keygen|timeout"
)
# Commands that are also English words ("; cat bed", "| Echo Dot", "more info"): at paranoia 1 they
# need shell-like arguments after them (an option, a path, a variable).
_WEAK = (
    r"cat|echo|sleep|ping|dig|head|tail|less|more|find|file|stat|touch|cp|mv|ln|mkdir|rmdir|kill|time|"
    r"nice|script|expect|at|batch|top|ip|arp|route|who|w|last|history|df|du|mount|locate|which|tar|zip|"
    r"dd|od|ed|vi|vim|nano|strings|tee|sort|cut|tr|uniq|wc|mail|open|java|node|lua|dash|ash|su|service|"
    r"net|reg|cc|wish|printf|export|set|unset|alias|source|chroot|unshare|test|read|python|perl|ruby|php|docker|"
    r"jar|go|rust"
)
_SHELL_ARGS = r"\s+(?:-{1,2}[a-z]|/|~|\$|\.{1,2}/|[<>|]|[a-z0-9_-]+/)"
# Value-start commands alone: unambiguous without arguments.
_NO_ARGS = r"whoami|uname|ifconfig|ipconfig|netstat|printenv|systeminfo|tasklist"
# Commands that start a value with plain-word arguments ("ls foo bar"): never product words
# (python, ruby, perl and docker are, so they are not here).
_START = (r"ls|wget|curl|nc|ncat|netcat|socat|bash|sh|zsh|ksh|csh|busybox|nmap|chmod|chown|rm|sudo|xargs|"
          r"grep|egrep|awk|gawk|base64|whoami|uname|ifconfig|tftp|telnet|nslookup|mkfifo|wmic|certutil|"
          r"bitsadmin|powershell|pwsh|iwr|iex|iwmi|aa-disable|php-fpm|c99|c89|ssh-keygen|crontab|killall|pkill")
_SEP = r"(?:[;\n\r|&`]|\$\(|<\(|>\(|\|\||&&)"
_PREFIX = r"\s*(?:[\w.~-]*/)*"

RULES = (
    Rule("cmd-after-separator", F, 1, C,
         _SEP + _PREFIX + r"(?:" + _STRONG + r")(?:$|[\s<>|;&`)(}]|\$|,)", ARGS, K, "command after a shell separator"),
    Rule("cmd-weak-after-separator", F, 1, C, _SEP + _PREFIX + r"(?:" + _WEAK + r")" + _SHELL_ARGS, ARGS, K,
         "command with shell arguments after a shell separator"),
    Rule("cmd-value-start", F, 1, C,
         r"^" + _PREFIX + r"(?:" + _STRONG + r"|" + _WEAK + r")" + _SHELL_ARGS, ARGS, K,
         "value starts with a command and shell arguments"),
    Rule("cmd-value-start-strong", F, 1, C,
         r"^" + _PREFIX + r"(?:" + _START + r")\s+[a-z][\w.-]*(?:\s|$)", ARGS, K,
         "value starts with a command and its arguments"),
    Rule("cmd-alone", F, 1, C, r"^" + _PREFIX + r"(?:" + _NO_ARGS + r")\s*$", ARGS, K, "reconnaissance command"),
    Rule("cmd-full-path", F, 1, C,
         r"(?:^|[^\w.-])/?(?:usr/(?:local/)?)?s?bin/[a-z][\w.+-]*|\$\{?shell\}?\s|/dev/(?:tcp|udp)/",
         ARGS, K, "program by its full path"),
    Rule("cmd-expansion", F, 1, C,
         r"\$\(.*\)|\$\{.*\}|\$\[.*\]|[<>]\(.*\)|`[^`]*`|/[\w.]*\[!?[^\]]+\][\w./]*|\$\(\(",
         ARGS, K, "shell expansion"),
    Rule("cmd-shellshock", F, 1, C, r"\(\s*\)\s*\{", ARGS_UA_REFERER, Form.PLAIN, "Shellshock function definition"),
    Rule("cmd-brace-expansion", F, 1, C, r"\{[\w./-]*,[\w./,-]*\}", ARGS, K, "shell brace expansion"),
    Rule("cmd-tilde", F, 1, C, r"^~[+-]\d*$", ARGS, K, "shell directory stack expansion"),
    Rule("cmd-windows", F, 1, C,
         r"(?:^|[;&|\n\"'(])\s*(?:cmd(?:\.exe)?\s*/[ckr]|powershell(?:\.exe)?\b|pwsh\b|iwr\s|iex\s*[\s(]|"
         r"iwmi\s|wmic\s|certutil(?:\.exe)?\s|bitsadmin\s|bcdboot\b|bcdedit\b|net(?:\.exe)?\s+(?:user|localgroup|"
         r"view|share|use)\b|reg(?:\.exe)?\s+(?:add|query|delete|save)\b|systeminfo\b|tasklist\b|taskkill\s|"
         r"nltest\s|vssadmin\s|schtasks\s|rundll32|regsvr32|mshta\s|cscript\s|wscript\s)",
         ARGS, K, "Windows shell command"),
    Rule("cmd-windows-vars", F, 1, C,
         r"%(?:systemroot|comspec|windir|programfiles|userprofile|appdata|temp|homedrive|homepath)%",
         ARGS, K, "Windows environment variable"),
    Rule("cmd-powershell", F, 1, C,
         r"\b(?:invoke-(?:expression|webrequest|command|restmethod|wmimethod|item)|downloadstring|downloadfile|"
         r"new-object\s+(?:system\.)?net\.webclient|start-process|get-wmiobject|-encodedcommand|-enc\s+[a-z0-9+/=]{8,}|"
         r"set-executionpolicy|\[system\.convert\]::frombase64string)\b",
         ARGS, K, "PowerShell"),
    Rule("cmd-redirect", F, 1, C, r"[0-9]?>>?\s*/(?:tmp|dev|var|etc|home|root)/[\w.]+|>\s*&\s*\d|\d>&\d",
         ARGS, K, "output redirection to a file"),
    # Paranoia 2: shapes ordinary text can hold, but rarely.
    Rule("cmd-glob-path", F, 2, C, r"/[\w?*]*[?*][\w?*]*/|/\?{2,}", ARGS, Form.PLAIN, "globbed path"),
    Rule("cmd-variable", F, 2, C, r"\$(?:ifs|path|home|shell|user|pwd|\{ifs\}|[0-9@*#?$!])", ARGS, Form.PLAIN,
         "shell variable"),
    Rule("cmd-separator-any", F, 2, C, _SEP + _PREFIX + r"(?:" + _STRONG + r"|" + _WEAK + r")\b",
         ARGS_UA_REFERER, K, "command after a separator"),
    Rule("cmd-unix-file-args", F, 3, Severity.WARNING, r"\s-[a-z]{1,4}\s+/", ARGS, K,
         "command-line option with a path"),
)
