"""The web client end to end in Debian's Chromium, through nginx with TLS, on a topology of its own:
register → verify by the link in the caught mail → sign in → write and publish an article → an anonymous
visitor finds it in the list and by search → another user bookmarks it and the author's open page shows the
notification live (WebSocket) → sign out everywhere. And /api/docs renders Swagger UI with every request on
our own origin. Screenshots of the pages go to ``test-results/browser/`` (printed with ``-s``).
"""

from __future__ import annotations

import io
import os
import re
import signal
import ssl
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from bench.browser import find_chromium, launch_chromium
from PIL import Image
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    FilePayload,
    Locator,
    Request,
    Response,
    ViewportSize,
    expect,
    sync_playwright,
)

from neurmatic.polling import poll
from tests.conftest import RunningTopology, started_topology
from tests.mailbox import token_in, wait_for_mail
from tests.support import PASSWORD, unavailable

pytestmark = pytest.mark.topology
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-results" / "browser"
TIMEOUT_MS = 15_000
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
PHONE: ViewportSize = {"width": 375, "height": 740}
expect.set_options(timeout=TIMEOUT_MS)  # assertions wait as long as actions (Playwright's default is 5 s)
RECONNECT_MS = 90_000  # both instances killed: the watcher restarts them, then the client's backoff


@pytest.fixture(scope="module")
def web_topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningTopology]:
    with started_topology(tmp_path_factory, "browser") as running:
        yield running


@pytest.fixture(scope="module")
def browser(web_topology: RunningTopology) -> Iterator[Browser]:
    chromium = find_chromium()
    if chromium is None:
        unavailable("Chromium is not installed (apt-get install -y chromium)")
    assert chromium is not None
    with sync_playwright() as playwright:
        launched = launch_chromium(playwright, chromium, web_topology.state_dir / "tls" / "server.pem")
        try:
            yield launched
        finally:
            launched.close()


class Visitor:
    """One browser context (its own storage: one person), recording CSP violations, uncaught page errors
    and every request that left our origin."""

    def __init__(self, browser: Browser, origin: str, name: str, viewport: ViewportSize = DESKTOP) -> None:
        self.origin = origin
        self.name = name
        self.context = browser.new_context(viewport=viewport)
        self.context.set_default_timeout(TIMEOUT_MS)
        self.problems: list[str] = []
        self.foreign: list[str] = []
        self.context.on("request", self._on_request)
        self.api_answers: list[str] = []  # each API call and its status, for a failure's message
        self.context.on("response", self._on_response)
        self.page = self.context.new_page()
        self.page.on("console", self._on_console)
        self.page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))

    def _on_request(self, request: Request) -> None:
        parts = urlsplit(request.url)
        if parts.scheme in {"https", "http", "wss", "ws"} and parts.netloc != urlsplit(self.origin).netloc:
            self.foreign.append(request.url)

    def _on_response(self, response: Response) -> None:
        if "/api/" in response.url:
            self.api_answers.append(
                f"{response.request.method} {urlsplit(response.url).path} {response.status}"
            )

    def _on_console(self, message: ConsoleMessage) -> None:
        text = message.text
        if "Content Security Policy" in text or "Refused to" in text:
            self.problems.append(f"CSP: {text}")

    def expect_visible(self, locator: Locator) -> None:
        """Visible in time; else the failure also lists this person's last API calls and answers."""
        try:
            expect(locator).to_be_visible()
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.name}'s last API calls: {self.api_answers[-15:]}") from None

    def go(self, path: str) -> None:
        self.page.goto(f"{self.origin}{path}")

    def shot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        print(f"screenshot: {path}")
        return path

    def close(self) -> None:
        self.context.close()

    def assert_clean(self) -> None:
        assert not self.problems, f"{self.name}: {self.problems}"
        assert not self.foreign, f"{self.name} left our origin: {self.foreign}"


def _sign_in(visitor: Visitor, email: str) -> None:
    visitor.go("/login")
    page = visitor.page
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def _png() -> bytes:
    """An 8 by 8 PNG, as a person's diagram would be (the API sniffs the bytes, not the name)."""
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (40, 90, 200)).save(out, format="PNG")
    return out.getvalue()


def _sign_in_with_the_keyboard(visitor: Visitor, email: str) -> None:
    """Tab from field to field and submit with Enter: the form is usable without a pointer."""
    visitor.go("/login")
    page = visitor.page
    page.get_by_label("Email").focus()
    page.keyboard.type(email)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def test_register_verify_write_find_bookmark_live_notification_and_sign_out_everywhere(
    web_topology: RunningTopology, browser: Browser
) -> None:
    origin = web_topology.https_url
    tls = ssl.create_default_context(cafile=str(web_topology.ca))
    tag = uuid.uuid4().hex[:8]
    author_email, author_name = f"author-{tag}@example.com", f"author_{tag}"
    title = f"Sparse attention in practice {tag}"
    author = Visitor(browser, origin, "author")
    visitor = Visitor(browser, origin, "anonymous")
    reader = Visitor(browser, origin, "reader")
    try:
        # Register, then verify by the link the worker mailed to the catcher.
        author.go("/register")
        page = author.page
        expect(page.get_by_role("heading", name="Create your account")).to_be_visible()
        page.get_by_label("Username").fill(author_name)
        page.get_by_label("Email").fill(author_email)
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        for box in page.get_by_role("checkbox").all():  # the terms, if the form asks
            box.check()
        author.shot("register")
        page.get_by_role("button", name="Create account").click()
        expect(page.get_by_text(re.compile("Check your email"))).to_be_visible()
        [mail] = wait_for_mail(web_topology.state_dir / "mail", author_email)
        author.go(f"/verify-email?token={token_in(mail, '/verify-email')}")
        expect(page.get_by_text(re.compile("Your email is confirmed"))).to_be_visible()

        # Sign in, see the live connection, write and publish.
        _sign_in(author, author_email)
        expect(page.get_by_text("Live", exact=True)).to_be_visible()
        page.get_by_role("link", name="Write").click()
        page.get_by_label("Title").fill(title)
        page.get_by_label("Content").fill(
            f"<p>How {tag} keeps long contexts cheap.</p><script>alert(1)</script><p>Second paragraph.</p>"
        )
        page.get_by_label("Upload image").set_input_files(
            files=FilePayload(name="diagram.png", mimeType="image/png", buffer=_png())
        )
        expect(page.get_by_text("Uploaded diagram.png")).to_be_visible()
        page.get_by_label("Excerpt").fill("Long contexts, cheaply.")
        page.get_by_label("Tags").fill(f"attention, t{tag}")
        page.get_by_label("Status").select_option(label="Published")
        author.shot("editor")
        page.get_by_role("button", name="Save").click()
        expect(page.get_by_role("heading", level=1, name=title)).to_be_visible()
        slug = page.url.rstrip("/").rsplit("/", 1)[-1]
        assert page.locator("script", has_text="alert(1)").count() == 0  # sanitized by the API
        image = page.locator("article img[alt=diagram], main img[alt=diagram]").first
        expect(image).to_be_visible()
        assert image.evaluate("img => img.complete && img.naturalWidth") == 8  # the upload, served back
        author.shot("article")

        # An anonymous visitor finds it in the list and by search.
        visitor.go("/")
        expect(visitor.page.get_by_role("heading", name="Articles")).to_be_visible()
        expect(visitor.page.locator("article").get_by_role("link", name=title)).to_be_visible()
        visitor.shot("articles")
        visitor.page.get_by_label("Search").fill(f"{tag}")
        visitor.page.get_by_role("button", name="Apply filters").click()
        expect(visitor.page.locator("article").get_by_role("link", name=title)).to_be_visible()
        expect(visitor.page.locator("article")).to_have_count(1)
        visitor.shot("search")
        phone = Visitor(browser, origin, "phone", PHONE)
        try:
            phone.go("/")
            expect(phone.page.locator("article").get_by_role("link", name=title)).to_be_visible()
            overflow = phone.page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"the list is {overflow}px wider than a phone's screen"
            phone.shot("articles-phone")
            phone.assert_clean()
        finally:
            phone.close()

        # Another user bookmarks it; the author's open page shows the notification without a reload.
        reader_email = f"reader-{tag}@example.com"
        with httpx.Client(base_url=origin, verify=tls) as api:
            created = api.post(
                "/api/v1/auth/register",
                json={
                    "email": reader_email,
                    "username": f"reader_{tag}",
                    "password": PASSWORD,
                    "termsAccepted": True,
                },
            )
            assert created.status_code == 201, created.text
        author.go("/notifications")
        expect(author.page.get_by_role("heading", name="Notifications")).to_be_visible()
        expect(author.page.get_by_text("Live", exact=True)).to_be_visible()
        _sign_in_with_the_keyboard(reader, reader_email)
        reader.go(f"/articles/{slug}")
        reader.page.get_by_role("button", name="Bookmark", exact=True).click()
        expect(reader.page.get_by_role("button", name="Remove bookmark")).to_be_visible()
        reader.go("/bookmarks")
        expect(reader.page.get_by_role("link", name=title)).to_be_visible()
        live = author.page.get_by_role("listitem").filter(has_text=f"reader_{tag} bookmarked")
        expect(live).to_be_visible()
        expect(author.page.get_by_role("link", name=re.compile(r"Notifications.*1 unread"))).to_be_visible()
        author.shot("notifications")

        with httpx.Client(base_url=origin, verify=tls) as api:
            other = api.post("/api/v1/auth/login", json={"email": author_email, "password": PASSWORD})
            assert other.status_code == 200, other.text
            other_token = other.json()["data"]["accessToken"]
            as_author = {"Authorization": f"Bearer {other_token}"}

            # The socket drops (both instances killed; the watcher restarts them): the page says so,
            # reconnects by itself, and a notification sent afterwards arrives live again.
            status = web_topology.status()
            for instance in ("backend-1", "backend-2"):
                os.kill(status[instance]["pid"], signal.SIGKILL)
            expect(author.page.get_by_text("Live", exact=True)).to_be_hidden()
            expect(author.page.get_by_text("Live", exact=True)).to_be_visible(timeout=RECONNECT_MS)
            # nginx takes an instance that refused a connection out for fail_timeout (5 s): with both
            # killed at once it may still answer 502 for a moment after the restart.
            sent = poll(
                lambda: api.post("/api/v1/notifications/test", headers=as_author),
                timeout=30,
                interval=1,
                done=lambda response: response.status_code != 502,
            ).value
            assert sent is not None and sent.status_code == 201, sent.text if sent else "no answer"
            expect(author.page.get_by_role("listitem").filter(has_text="Test notification")).to_be_visible()

            # Sign out everywhere: this page lands on sign-in, and the author's other session ends too.
            author.go("/profile")
            author.expect_visible(author.page.get_by_role("heading", name="Profile"))
            author.shot("profile")
            author.page.get_by_role("button", name="Sign out everywhere").click()
            # On /login (the page itself says it; the banner other pages show stays out of its way).
            expect(author.page).to_have_url(re.compile(r"/login(?:\?.*)?$"))
            notice = author.page.get_by_role("main").get_by_text("You have been signed out everywhere")
            expect(notice).to_be_visible()
            after = api.get("/api/v1/users/me", headers=as_author)
            assert after.status_code == 401, after.text
        for person in (author, visitor, reader):
            person.assert_clean()
    finally:
        for person in (author, visitor, reader):
            person.close()


def test_the_api_docs_render_from_our_own_origin(web_topology: RunningTopology, browser: Browser) -> None:
    """Swagger UI with no CDN (this machine has none): the operations listed, nothing fetched elsewhere,
    no CSP violation."""
    reader = Visitor(browser, web_topology.https_url, "docs")
    try:
        reader.go("/api/docs")
        expect(reader.page.locator(".swagger-ui .info .title")).to_contain_text("Neurmatic API")
        operation = reader.page.locator(".opblock-summary-path", has_text="/api/v1/articles").first
        expect(operation).to_be_visible()
        reader.shot("api-docs")
        reader.assert_clean()
    finally:
        reader.close()


def test_unknown_paths_get_the_apps_not_found_page(web_topology: RunningTopology, browser: Browser) -> None:
    reader = Visitor(browser, web_topology.https_url, "lost")
    try:
        reader.go("/no/such/page")
        heading = reader.page.get_by_role("heading", name=re.compile("not found", re.IGNORECASE))
        expect(heading).to_be_visible()
        reader.assert_clean()
    finally:
        reader.close()
