"""SQL injection: libinjection's tokenizer first, then patterns for what it does not cover.

Plain English that mentions SQL words ("Select Drop Earrings — Union Square", "select from
our range") must pass: patterns need SQL syntax around the keywords (quotes, operators,
parentheses, comments), not the keywords alone.
"""

from __future__ import annotations

import libinjection

from bindery.security.waf.decode import Field, Target
from bindery.security.waf.rules import ARGS_UA_REFERER, Check, Family, Form, Rule, Severity

F = Family.SQLI
C = Severity.CRITICAL


_SQL_CHARS = frozenset("'\"`#;=@")
_SQL_PAIRS = ("--", "/*", "0x", "||", "&&")


def _sql_meta(value: str) -> bool:
    """Cheap prefilter (C-level scans, no generator): bulk bodies run it on every value."""
    return not _SQL_CHARS.isdisjoint(value) or any(pair in value for pair in _SQL_PAIRS)


def _libinjection(field: Field, value: str) -> bool:
    """libinjection, on values with SQL punctuation: it flags plain words too ("Version (2019)")."""
    return _sql_meta(value) and bool(libinjection.is_sql_injection(value)["is_sqli"])


def _libinjection_words(field: Field, value: str) -> bool:
    return bool(libinjection.is_sql_injection(value)["is_sqli"])


CHECKS = (
    Check("sqli-libinjection", F, 1, C, ARGS_UA_REFERER, _libinjection, "SQL injection (libinjection)"),
    Check("sqli-libinjection-words", F, 2, C, ARGS_UA_REFERER, _libinjection_words,
          "SQL injection (libinjection, no punctuation)"),
)

_Q = "['\"`\u00b4\u2018\u2019]"  # quote characters, ASCII and typographic

RULES = (
    Rule("sqli-union-select", F, 1, C, r"\bunion(?:\s|\+|\()+(?:all(?:\s|\()+|distinct(?:\s|\()+)?\(*\s*select\b",
         form=Form.SQL, message="UNION SELECT"),
    Rule("sqli-tautology", F, 1, C,
         _Q + r"\s*(?:\)\s*)*(?:or|and|xor|\|\||&&|div|like|rlike|regexp|sounds\s+like)\s*(?:\(\s*)*" + _Q
         + r"?\s*[\w.@$]+" + _Q + r"?\s*(?:=|<=>|<>|!=|<|>|\bis\b|\blike\b|\bin\b|\bbetween\b)",
         form=Form.SQL, message="quote followed by a boolean comparison"),
    Rule("sqli-numeric-tautology", F, 1, C,
         r"(?:^|[\s(])(?:or|and|xor|\|\||&&)\s+(?:\(\s*)*(\d+|true|false|null)\s*(?:=|<=>|<>|!=|<|>|\bis\b|\blike\b)\s*\(*\s*\w+",
         form=Form.SQL, message="boolean comparison of constants"),
    Rule("sqli-quote-comment", F, 1, C, _Q + r"\s*\)*\s*(?:--|#|/\*|;\s*--|;\s*%00)",
         form=Form.PLAIN, message="quote closed, rest of the query commented out"),
    Rule("sqli-stacked", F, 1, C,
         r";\s*(?:drop\s+(?:table|database|schema|user)|delete\s+from|insert\s+into|update\s+[\w`\"\[\].]+\s+set|"
         r"shutdown\b|exec(?:ute)?\s+(?:xp_|sp_|master\.|@|\()|declare\s+@|truncate\s+table|alter\s+(?:table|user)|"
         r"create\s+(?:table|user|database|function|procedure)|grant\s+|waitfor\s+delay|"
         r"select\s+(?:\*|@@|\(|null\b|\d|[\w.`\"\[\]]+\s*,|[\w.`\"\[\]]+\s+from\b))",
         form=Form.SQL, message="stacked query"),
    Rule("sqli-function-names", F, 1, C,
         r"\b(?:benchmark|pg_sleep|load_file|extractvalue|updatexml|group_concat|concat_ws|find_in_set|name_const|"
         r"make_set|export_set|gtid_subset|gtid_subtract|json_keys|json_extract|sys_eval|sys_exec|master_pos_wait|"
         r"get_lock|release_lock|is_free_lock|is_used_lock|row_count|found_rows|last_insert_id|connection_id|"
         r"current_user|session_user|system_user|schema_name|database|char|chr|nchar|unhex|substring_index|"
         r"char_length|bit_length|strcmp|soundex|ifnull|nullif|isnull|iif|aes_encrypt|aes_decrypt|des_encrypt|"
         r"uncompress|from_base64|to_base64|geometrycollection|multipoint|multilinestring|multipolygon|"
         r"linestring|st_latfromgeohash|st_longfromgeohash|st_pointfromgeohash|xmltype|utl_inaddr\.\w+|"
         r"utl_http\.\w+|dbms_\w+|ctxsys\.\w+|pg_read_file|pg_ls_dir|lo_import|lo_export|current_database|"
         r"current_schema|inet_server_addr|db_name|user_name|host_name|suser_s?name|is_srvrolemember|"
         r"has_dbaccess|openquery|openxml|fn_varbintohexstr|sqlite_version|randomblob|zeroblob|"
         r"procedure\s+analyse|sleep)\W*\(",
         form=Form.SQL, message="SQL function call"),
    Rule("sqli-functions-args", F, 2, C,
         r"\b(?:version|user|schema|ascii|ord|hex|bin|oct|conv|substr|substring|mid|left|right|locate|instr|"
         r"position|length|lpad|rpad|reverse|repeat|space|coalesce|if|case|cast|convert|md5|sha1|sha2|compress|"
         r"encode|decode|exp|floor|rand|ceil|ceiling|pow|power|sqrt|abs|mod|polygon|elt|count|concat|div)"
         r"\s*\(\s*(?:\d|\(|select\b|@|0x|" + _Q + r"|\)|char\b|chr\b|user\b|version\b|database\b|concat\b)",
         form=Form.SQL, message="SQL function call with SQL arguments"),
    Rule("sqli-db-names", F, 1, C,
         r"\b(?:tempdb|msdb|northwind|pg_database|mysql\.db|master\.\.sysdatabases|master\.dbo|sys\.databases)\b",
         message="database name"),
    Rule("sqli-conditional", F, 1, C,
         r"\)\s*(?:like|rlike|regexp)\s*\(|\bcase\s+when\s+[\w(@'\"]+\s*(?:=|<|>|\bis\b|\blike\b)|"
         r"\bdiv\s*\(\s*[\d.]+\s*,|\bif\s*\(\s*[\w(]+\s*(?:=|<|>|~)",
         form=Form.SQL, message="SQL conditional"),
    Rule("sqli-union-select-from", F, 1, C, r"union\W*(?:all\W*)?select\W*(?:\w+\W*)?from\b", form=Form.SQL,
         message="UNION SELECT ... FROM"),
    Rule("sqli-nosql", F, 1, C,
         r"\[\s*\$(?:ne|eq|lte?|gte?|n?in|regex|where|exists|not|x?or|and|nor|all|elemmatch|size|type|mod|expr|"
         r"text|function|accumulator)\s*\]|^\$(?:ne|eq|lte?|gte?|n?in|regex|where|exists|not|x?or|and|nor|all|"
         r"elemmatch|size|type|mod|expr|text|function|accumulator)$",
         frozenset({Target.ARG_NAME, Target.COOKIE_NAME}), message="MongoDB operator"),
    Rule("sqli-stored-procedure", F, 1, C,
         r"\bexec(?:ute)?\s+(?:master\.|xp_|sp_|@)|\bcreate\s+(?:or\s+replace\s+)?(?:procedure|function)\s+\w|"
         r"\bdeclare\s+@\w+|;\s*truncate\b|\bcreate\s+function\b.+\breturns\b",
         form=Form.SQL, message="stored procedure or function"),
    Rule("sqli-schema", F, 1, C,
         r"\b(?:information_schema|sysobjects|syscolumns|sysdatabases|sys\.objects|sys\.tables|mysql\.user|"
         r"sqlite_master|sqlite_temp_master|pg_catalog|pg_shadow|pg_user|all_tables|user_tables|"
         r"msysaccessobjects|msysobjects|rdb\$relations|sys\.user_objects)\b", form=Form.SQL,
         message="database catalog name"),
    Rule("sqli-sysvars", F, 1, C, r"@@(?:version|datadir|hostname|basedir|tmpdir|identity|spid|servername)\b",
         message="SQL system variable"),
    Rule("sqli-procedures", F, 1, C,
         r"\b(?:xp_cmdshell|xp_regread|xp_dirtree|xp_fileexist|sp_executesql|sp_oacreate|sp_makewebtask|"
         r"sp_password|openrowset|opendatasource|waitfor\s+(?:delay|time)\s+" + _Q + r"|into\s+(?:out|dump)file\s+)",
         form=Form.SQL, message="SQL server procedure or file write"),
    Rule("sqli-mysql-comment", F, 1, C, r"/\*!\d{0,5}|\*/\s*(?:select|union|from|where|and|or)\b",
         message="MySQL conditional comment"),
    Rule("sqli-order-by-probe", F, 1, C,
         r"(?:" + _Q + r"|\))\s*(?:order|group)\s+by\s+\d+|\bhaving\s+\d+\s*=\s*\d+",
         form=Form.SQL, message="column count probe"),
    Rule("sqli-select-from-quote", F, 1, C,
         _Q + r"\s*(?:\)\s*)*(?:;|\b(?:union|and|or|having|where|select|insert|delete|update|order|group|"
         r"limit|procedure|into|from)\b)\s*[\w(@*\"'`]",
         form=Form.SQL, message="quote followed by SQL"),
    Rule("sqli-hex-char", F, 1, C, r"\b(?:char|chr|nchar)\s*\(\s*\d+\s*(?:,\s*\d+\s*)+\)|\b0x[0-9a-f]{8,}\b",
         message="encoded string (CHAR() or long hex)"),
    # Paranoia 2: SQL shapes that also appear, rarely, in ordinary text.
    Rule("sqli-select-from", F, 2, C, r"\bselect\b[^;]{0,100}?\bfrom\b\s*[\w(`\"\[]", form=Form.SQL,
         message="SELECT ... FROM"),
    Rule("sqli-keywords-operators", F, 2, C,
         r"(?:^|[\s(])(?:or|and|xor|not)\s+[\w'\"]+\s*(?:=|<>|!=|>=|<=|<|>)\s*[\w'\"]+|"
         r"\b(?:insert\s+into|delete\s+from|drop\s+table|alter\s+table|truncate\s+table)\b",
         form=Form.SQL, message="SQL keyword with operator"),
    Rule("sqli-comment-sequence", F, 2, Severity.WARNING, r"(?:--[\s\w]*$|#\s*$|/\*.*\*/|;\s*$)",
         message="SQL comment or terminator"),
    Rule("sqli-quotes-many", F, 2, Severity.WARNING, r"(?:" + _Q + r".*){4}", message="many quotes"),
    Rule("sqli-statement-after-semicolon", F, 2, C,
         r";\s*(?:truncate|create|update|rename|insert|select|delete|desc|alter|load|drop|exec)\b\s*[\[(]?\w{2,}",
         form=Form.SQL, message="SQL statement after a semicolon"),
    Rule("sqli-boolean-compare", F, 2, C,
         _Q + r"\s*(?:=|<>|!=|<|>|\bis\b|\blike\b)\s*" + _Q, form=Form.SQL, message="quoted comparison"),
    Rule("sqli-meta-chars", F, 3, Severity.WARNING, r"[\"'`;=][^\"'`;=]*[\"'`;=][^\"'`;=]*[\"'`;=].*[\"'`;=]",
         message="many SQL meta characters"),
    Rule("sqli-single-quote", F, 4, Severity.WARNING, _Q, message="quote character"),
)
