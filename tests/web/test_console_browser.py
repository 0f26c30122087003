"""The first run as a person lives it, in headless Chromium against the real HTTPS server.

One platform is migrated and given the demo tenant with ``bindery demo``; ``bindery web`` serves
it. The browser signs in with the printed password, is made to change it, reaches the home
page, signs out and back in. Along the way the page must log no console errors (so the strict
Content-Security-Policy blocks nothing the page needs) and the session cookie must carry the
right flags and change at sign-in.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.support.browser import NEW_PASSWORD, FirstRun, open_page, replace_password, serve_demo, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.server]

SESSION_COOKIE = "__Host-bindery_session"
CSRF_COOKIE = "__Host-bindery_csrf"
GENERIC_ERROR = "The workspace, e-mail or password is not right."
PLANTED_SESSION = "fixedbyanattacker0000000000000000"  # 32 characters, like Django's keys
ACCENT = "rgb(31, 95, 191)"  # --accent in web/console.css; Chromium's default button is light grey


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FirstRun]:
    """A migrated platform with the demo tenant, served by ``bindery web``, for the whole module."""
    with serve_demo(tmp_path_factory.mktemp("console_browser")) as run:
        yield run


def _cookie(context: BrowserContext, name: str) -> dict[str, object] | None:
    return next((dict(c) for c in context.cookies() if c["name"] == name), None)


def _path(page: Page) -> str:
    return urlsplit(page.url).path


def test_demo_prints_the_password_only_once(first_run: FirstRun) -> None:
    """A second ``bindery demo`` names the existing owner and prints no password."""
    again = first_run.platform.bindery("demo")
    assert again.returncode == 0, again.stderr + again.stdout
    assert first_run.demo.email in again.stdout
    assert not re.search(r"password:", again.stdout, re.IGNORECASE), again.stdout
    assert first_run.demo.password not in again.stdout


def test_first_run_in_the_browser(browser: Browser, first_run: FirstRun, tmp_path: Path) -> None:
    """Sign in with the demo password, change it, see home, sign out; new password works, old not."""
    url, demo = first_run.platform.url, first_run.demo
    errors: list[str] = []
    refused_documents: set[str] = set()  # pages expected to answer 400, which Chromium logs
    context, page = open_page(browser, errors, timeout=15_000, expected=lambda where, text: (
        where in refused_documents and "status of 400" in text))
    try:
        # The console's front door sends a stranger to the sign-in page, with the strict CSP.
        response = page.goto(url + "/")
        assert response is not None
        assert response.ok, response.status
        assert _path(page) == "/login/", page.url
        csp = response.headers.get("content-security-policy", "")
        assert "default-src 'self'" in csp, csp
        assert "style-src 'self'" in csp, csp
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        # The stylesheet loaded under that CSP: the button wears the accent, not Chromium's grey.
        button = page.get_by_role("button", name="Sign in")
        assert button.evaluate("b => getComputedStyle(b).backgroundColor") == ACCENT
        page.screenshot(path=tmp_path / "sign_in.png", full_page=True)
        anonymous_csrf = _cookie(context, CSRF_COOKIE)
        assert anonymous_csrf is not None, context.cookies()
        # A stranger never needs a session; plant one, as a session-fixation attacker would.
        assert _cookie(context, SESSION_COOKIE) is None, context.cookies()
        context.add_cookies([{"name": SESSION_COOKIE, "value": PLANTED_SESSION, "url": url + "/",
                              "secure": True, "httpOnly": True, "sameSite": "Lax"}])
        planted = _cookie(context, SESSION_COOKIE)
        assert planted is not None, "Chromium refused the planted session cookie"
        assert planted["value"] == PLANTED_SESSION, planted

        # The printed password signs in, and the demo owner must choose a password first.
        sign_in(page, url, demo, demo.password)
        assert _path(page) == "/account/password/", page.url
        expect(page.get_by_role("heading", name="Change your password")).to_be_visible()
        page.screenshot(path=tmp_path / "password_change.png", full_page=True)
        session = _cookie(context, SESSION_COOKIE)
        assert session is not None, f"no session cookie after sign-in: {context.cookies()}"
        assert session["secure"] is True, session
        assert session["httpOnly"] is True, session
        assert session["sameSite"] == "Lax", session
        assert session["value"] != PLANTED_SESSION, "the session key planted before sign-in was kept"
        csrf = _cookie(context, CSRF_COOKIE)
        assert csrf is not None, context.cookies()
        assert csrf["value"] != anonymous_csrf["value"], "CSRF token not rotated at sign-in"

        # Changing it leads home, which names the tenant and the account.
        replace_password(page, demo.password)
        assert _path(page) == "/", page.url
        expect(page.get_by_role("heading", name="Demo shop")).to_be_visible()
        expect(page.locator("main")).to_contain_text(demo.email)
        page.screenshot(path=tmp_path / "home.png", full_page=True)

        # Signing out returns to the sign-in page and ends the session.
        with page.expect_navigation():
            page.get_by_role("button", name="Sign out").click()
        assert _path(page) == "/login/", page.url
        page.goto(url + "/")
        assert _path(page) == "/login/", f"still signed in after signing out: {page.url}"

        # The old password no longer opens the account; the error names nothing in particular.
        refused_documents.add(url + "/login/")
        sign_in(page, url, demo, demo.password)
        refused_documents.clear()
        assert _path(page) == "/login/", page.url
        expect(page.get_by_role("alert")).to_have_text(GENERIC_ERROR)

        # The new one does, straight to home (no second password change).
        sign_in(page, url, demo, NEW_PASSWORD)
        assert _path(page) == "/", page.url
        expect(page.get_by_role("heading", name="Demo shop")).to_be_visible()

        assert not errors, "console errors:\n" + "\n".join(errors)
        # The listener is live: an inline style, which the CSP forbids, is reported.
        page.evaluate("document.head.appendChild(document.createElement('style')).textContent = 'p{}'")
        page.wait_for_timeout(200)
        assert any("style-src" in e for e in errors), f"a CSP violation went unnoticed: {errors}"
    finally:
        context.close()
