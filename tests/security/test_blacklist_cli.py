"""``bindery blacklist`` and ``bindery security events`` through the real parser, in-process."""

from __future__ import annotations

import pytest

from bindery.cli import CommandFailed
from bindery.security.models import Ban, SecurityEvent
from tests.privacy.test_privacy_cli import bindery

pytestmark = pytest.mark.django_db(databases="__all__")


def test_add_list_lift(capsys: pytest.CaptureFixture[str]) -> None:
    assert bindery("blacklist", "add", "2001:db8::5", "--reason", "scanner") == 0
    assert "Banned 2001:db8::/64" in capsys.readouterr().out
    assert bindery("blacklist", "list") == 0
    assert "2001:db8::/64" in capsys.readouterr().out
    assert bindery("blacklist", "lift", "2001:db8::99") == 0  # any address of the /64
    assert "Lifted ban" in capsys.readouterr().out
    assert bindery("blacklist", "list") == 0
    assert "No active bans." in capsys.readouterr().out
    assert list(SecurityEvent.objects.values_list("kind", flat=True).order_by("id")) == ["banned", "ban_lifted"]
    assert bindery("security", "events", "--kind", "banned") == 0
    assert "scanner" in capsys.readouterr().out


def test_bad_arguments_fail_cleanly() -> None:
    with pytest.raises(CommandFailed, match="not an IP address"):
        bindery("blacklist", "add", "999.1.1.1")
    with pytest.raises(CommandFailed, match="no active ban"):
        bindery("blacklist", "lift", "198.51.100.1")
    with pytest.raises(CommandFailed, match="neither a ban id nor an IP"):
        bindery("blacklist", "lift", "x; drop table")
    assert Ban.objects.count() == 0
