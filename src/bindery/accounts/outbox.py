"""The development outbox: without an SMTP server, each e-mail is one ``.eml`` file operators can read.

Django's file backend appends every message of a connection to one log file; one file per message
(written under a temporary name, then renamed) lets the operators' outbox page list and open them.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.message import EmailMessage

KEEP = 500  # the newest messages kept; older ones are removed as new ones arrive


def outbox_dir() -> Path:
    return Path(settings.BINDERY_OUTBOX_DIR)


class OutboxBackend(BaseEmailBackend):
    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        folder = outbox_dir()
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        sent = 0
        for message in email_messages:
            stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
            final = folder / f"{stamp}-{uuid.uuid4().hex[:8]}.eml"
            temporary = final.with_suffix(".tmp")
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(message.message().as_bytes())
            temporary.replace(final)
            sent += 1
        _trim(folder)
        return sent


def _trim(folder: Path) -> None:
    files = sorted(folder.glob("*.eml"))
    for old in files[:-KEEP]:
        old.unlink(missing_ok=True)


@dataclass(frozen=True)
class OutboxMessage:
    name: str
    sent_at: str
    to: str
    subject: str
    body: str


def _read(path: Path) -> OutboxMessage:
    parsed: Any = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    part = parsed.get_body(preferencelist=("plain",))
    return OutboxMessage(name=path.name, sent_at=path.name[:15], to=str(parsed.get("To", "")),
                         subject=str(parsed.get("Subject", "")),
                         body=part.get_content() if part is not None else "")


def list_messages(limit: int = 100) -> list[OutboxMessage]:
    folder = outbox_dir()
    if not folder.is_dir():
        return []
    return [_read(p) for p in sorted(folder.glob("*.eml"), reverse=True)[:limit]]
