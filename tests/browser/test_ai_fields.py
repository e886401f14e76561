"""The AI writer beside the post's fields, and the panel on a desktop screen: a suggestion that does
not fit its field is not put in and says why, and the panel stays in reach while the author writes."""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_author import new_post

pytestmark = [pytest.mark.integration, pytest.mark.browser]

PARAGRAPH = (
    "Tags help readers find related posts, and this answer is a whole paragraph about that rather than "
    "a short list of tags that the field could take"
)


def test_a_paragraph_offered_as_tags_is_not_put_in_and_the_author_is_told_why(browsing, live_site, monkeypatch):
    monkeypatch.setattr(live_site.engine, "reply", lambda request: PARAGRAPH)
    page = browsing.page("alice")
    new_post(page, "Finding related posts", "Readers like related posts. Tags connect them.")
    expect(page.locator("[data-ai-connection]")).to_have_text(re.compile("ready", re.I))

    page.locator("#ai-suggest-tags").click()
    assist = page.locator("#ai-assist-tags")
    expect(assist).to_contain_text("This does not look like tags")
    expect(assist).to_contain_text("It was not put in")
    expect(assist.locator("[data-ai-assist-accept]")).to_be_disabled()
    expect(page.locator("#id_tags")).to_have_value("")


def test_the_ai_panel_is_in_view_at_the_end_of_a_long_post_on_a_desktop_screen(browsing):
    page: Page = browsing.page("alice", viewport={"width": 1366, "height": 768})
    long_body = "\n\n".join(f"Paragraph {number} of a long post, written line after line." for number in range(80))
    new_post(page, "A long post", long_body)

    body = page.locator("#id_body")
    body.press("Control+End")
    page.mouse.wheel(0, 20_000)  # to the very end of the page, as an author writing on would be
    page.wait_for_function("window.scrollY > 0")
    expect(page.locator("#ai-generate")).to_be_in_viewport()
    expect(page.locator("#ai-action")).to_be_in_viewport()
