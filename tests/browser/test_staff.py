"""Staff's journey: a bulk action in Django's admin, which runs the same service as the editor."""

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.integration, pytest.mark.browser]


def test_staff_publish_two_posts_in_review_at_once_from_the_admin(browsing, live_site):
    titles = live_site.facts["staff_titles"]
    page = browsing.page("admin")
    page.goto("/admin/posts/post/?status__exact=review")
    for title in titles:
        page.locator("#result_list tr", has_text=title).locator("input.action-select").check()
    page.locator("select[name=action]").select_option(label="Publish selected posts")
    page.get_by_role("button", name="Go").click()
    expect(page.locator(".messagelist")).to_contain_text("Published 2 posts.")
    for title in titles:
        expect(page.locator("#result_list tr", has_text=title)).to_have_count(0)

    reader = browsing.page()
    reader.goto("/")
    for title in titles:
        reader.locator("main article h2 a", has_text=title).click()
        expect(reader.get_by_role("heading", level=1)).to_have_text(title)
        reader.go_back()
