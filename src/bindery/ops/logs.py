"""Structured logging: one JSON object per line, with the request or job id, secrets redacted."""

from __future__ import annotations

import contextvars
import logging
import re
from typing import Any

from pythonjsonlogger.json import JsonFormatter as _BaseJsonFormatter

# The id of the request or job the current code works for; set by the request middleware and
# the job hooks, read by every log line.
correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("correlation_id", default=None)

REDACTED = "[redacted]"
# Keys whose values never reach a log line, wherever they appear in ``extra``.
_SECRET_KEY = re.compile(r"pass(word|wd)?|secret|token|authori[sz]ation|cookie|api[_-]?key|credential|session",
                         re.IGNORECASE)
# Credentials inside URLs (postgres://user:secret@host) and bearer tokens inside free text.
_URL_PASSWORD = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://[^:/@\s]+:)[^@\s]+@", re.IGNORECASE)
_BEARER = re.compile(r"(?i)\b(bearer|token)\s+[A-Za-z0-9._~+/=-]{8,}")
# Our own API tokens, wherever they appear in free text (same shape as security.tokens.SCANNER_REGEX).
_API_TOKEN = re.compile(r"\bbnd_([a-z0-9]{12})_[A-Za-z0-9]{22,172}_[A-Za-z0-9]{6}\b")

_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


def redact_text(text: str) -> str:
    text = _URL_PASSWORD.sub(lambda m: m.group("scheme") + REDACTED + "@", text)
    text = _API_TOKEN.sub(lambda m: f"bnd_{m.group(1)}_{REDACTED}", text)
    return _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)


def _redact_value(key: str, value: Any) -> Any:
    if _SECRET_KEY.search(key):
        return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: _redact_value(str(k), v) for k, v in value.items()}
    return value


class RedactSecretsFilter(logging.Filter):
    """Remove secrets from a record's message arguments and extra fields."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD:
                record.__dict__[key] = _redact_value(key, value)
        if record.args:
            record.msg = redact_text(record.getMessage())
            record.args = None
        elif isinstance(record.msg, str):
            record.msg = redact_text(record.msg)
        return True


class JsonFormatter(_BaseJsonFormatter):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("timestamp", "time")
        super().__init__("%(levelname)s %(name)s %(message)s", *args, **kwargs)

    def add_fields(self, log_data: dict[str, Any], record: logging.LogRecord,
                   message_dict: dict[str, Any]) -> None:
        super().add_fields(log_data, record, message_dict)
        log_data["level"] = log_data.pop("levelname", record.levelname).lower()
        log_data["logger"] = log_data.pop("name", record.name)
        cid = correlation_id.get()
        if cid and "request_id" not in log_data:
            log_data["request_id"] = cid
        if record.exc_info and "exc_info" in log_data:
            log_data["exc_info"] = redact_text(str(log_data["exc_info"]))
