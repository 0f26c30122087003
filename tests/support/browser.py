"""What the browser tests share: Debian's Chromium, a demo platform, a page that collects console errors.

Every page opened with :func:`open_page` reports Content-Security-Policy violations and
uncaught errors into the test's ``errors`` list, so a test ends with ``assert not errors``.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from tests.support.server import Platform, platform

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
NEW_PASSWORD = "lantern-orchard-quietly-47"  # 26 characters, not a common password

# Report every CSP violation on the console too, whatever Chromium itself prints for it.
CSP_REPORTER = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error(`CSP violation: ${event.violatedDirective} blocked ${event.blockedURI || "inline"}`);
});
"""


@dataclass(frozen=True)
class DemoCredentials:
    workspace: str
    email: str
    password: str


@dataclass(frozen=True)
class FirstRun:
    platform: Platform
    demo: DemoCredentials


def parse_demo_output(stdout: str) -> DemoCredentials:
    """Read the workspace, e-mail and password from the block ``bindery demo`` prints."""
    found = {key: re.search(rf"^\s*{key}:\s+(\S+)", stdout, re.MULTILINE)
             for key in ("workspace", "e-mail", "password")}
    missing = [key for key, match in found.items() if match is None]
    assert not missing, f"'bindery demo' printed no {', '.join(missing)} line:\n{stdout}"
    values = {key: match.group(1) for key, match in found.items() if match is not None}
    return DemoCredentials(values["workspace"], values["e-mail"], values["password"])


@contextlib.contextmanager
def serve_demo(folder: Path, setup: Callable[[DemoCredentials], Iterable[tuple[str, ...]]] | None = None
               ) -> Iterator[FirstRun]:
    """A migrated platform with the demo tenant, set up by ``bindery`` commands, served by ``bindery web``."""
    with platform(folder) as plat:
        done = plat.bindery("migrate", "--quiet", timeout=300)
        assert done.returncode == 0, done.stderr + done.stdout
        demo = plat.bindery("demo")
        assert demo.returncode == 0, demo.stderr + demo.stdout
        credentials = parse_demo_output(demo.stdout)
        for args in setup(credentials) if setup else ():
            done = plat.bindery(*args)
            assert done.returncode == 0, done.stderr + done.stdout
        plat.start("web")
        plat.wait_until_up()
        yield FirstRun(plat, credentials)


def launch_chromium() -> Iterator[Browser]:
    """Debian's headless Chromium, driven by Playwright (never a downloaded browser): a fixture body."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (apt-get install chromium)")
    with sync_playwright() as p:
        try:
            chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        except PlaywrightError as exc:
            pytest.fail(f"{CHROMIUM} did not start ({str(exc).splitlines()[0]}); "
                        "install Debian's chromium package (apt-get install chromium)")
        yield chromium
        chromium.close()


def open_page(browser: Browser, errors: list[str], *, height: int = 900, timeout: float = 20_000,
              expected: Callable[[str, str], bool] | None = None) -> tuple[BrowserContext, Page]:
    """Open a page (self-signed certificate accepted) whose console errors land in ``errors``.

    ``expected(where, text)`` says which console errors the test provokes on purpose (a form
    refused with 400 is logged by Chromium).
    """
    context = browser.new_context(ignore_https_errors=True, viewport={"width": 1280, "height": height})
    context.set_default_timeout(timeout)
    context.add_init_script(CSP_REPORTER)
    page = context.new_page()

    def on_console(message: ConsoleMessage) -> None:
        where = message.location.get("url") or page.url
        if message.type == "error" and not (expected and expected(where, message.text)):
            errors.append(f"{where}: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: errors.append(f"{page.url}: uncaught {exc}"))
    return context, page


def sign_in(page: Page, base_url: str, demo: DemoCredentials, password: str) -> None:
    page.goto(base_url + "/login/")
    page.get_by_label("Workspace").fill(demo.workspace)
    page.get_by_label("E-mail").fill(demo.email)
    page.get_by_label("Password", exact=True).fill(password)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()


def replace_password(page: Page, old: str, new: str = NEW_PASSWORD) -> None:
    """Fill the password-change form the demo owner meets after the first sign-in."""
    page.get_by_label("Old password").fill(old)
    page.get_by_label("New password", exact=True).fill(new)
    page.get_by_label("New password confirmation").fill(new)
    with page.expect_navigation():
        page.get_by_role("button", name="Change password").click()
