"""A reader's journey: the index, a post, and a comment that waits for an editor."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.integration, pytest.mark.browser]


def test_a_reader_opens_a_post_from_the_index_and_comments_on_it(browsing, live_site):
    page = browsing.page("quinn")
    page.goto("/")
    first = page.locator("main article h2 a").first
    title = first.inner_text()
    first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(title)
    expect(page).to_have_title(re.compile(re.escape(title)))

    body = f"A reader's note from the browser, about {title[:40]}."
    page.get_by_label("Your comment").fill(body)
    page.get_by_role("button", name="Post comment").click()
    # The confirmation is where the reader is, beside their comment marked as waiting.
    expect(page.get_by_text("An editor will review it")).to_be_in_viewport()
    mine = page.locator("article.comment", has_text=body)
    expect(mine).to_contain_text("Waiting for approval")
    # The comment is not public yet: a reader who is not signed in does not see it.
    anonymous = browsing.page()
    anonymous.goto(page.url.split("#")[0])
    expect(anonymous.get_by_role("heading", level=1)).to_have_text(title)
    expect(anonymous.get_by_text(body)).to_have_count(0)
