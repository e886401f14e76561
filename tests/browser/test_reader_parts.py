"""Signed-in readers in the browser: the page every reader shares, with their own parts put in by
static/js/reader.js, and without the script, links that still lead to the comment form."""

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.integration, pytest.mark.browser]


def test_a_signed_in_reader_gets_their_menu_form_and_pending_comment_on_the_shared_page(browsing, live_site):
    post = f"/posts/{live_site.facts['post_slug']}/"
    browsing.page().goto(post)  # an anonymous reader fills the page cache first
    page = browsing.page("reader")
    response = page.goto(post)
    assert response.headers["x-cache"] == "HIT"
    account = page.get_by_role("navigation", name="Account")
    expect(account.get_by_role("link", name="Riley Park")).to_be_visible()
    expect(account.get_by_role("button", name="Sign out")).to_be_visible()
    expect(account.get_by_role("link", name="Sign in")).to_have_count(0)

    body = "Waiting for an editor, seen only by me."
    page.get_by_role("textbox", name="Your comment").fill(body)
    page.get_by_role("button", name="Post comment").click()
    page.wait_for_url(f"**{post}#comments")
    comments = page.locator("#comments")
    expect(comments.get_by_text("An editor will review it")).to_be_visible()
    expect(comments.get_by_text("An editor will review it")).to_be_in_viewport()
    mine = comments.get_by_role("article", name="Comment by Riley Park, waiting for approval")
    expect(mine).to_contain_text(body)
    expect(mine).to_contain_text("Waiting for approval")

    # Again from the shared copy (no notice left to show): the pending comment comes with the fragment.
    again = page.goto(post)
    assert again.headers["x-cache"] == "HIT"
    expect(page.get_by_role("article", name="Comment by Riley Park, waiting for approval")).to_contain_text(body)

    other = browsing.page("sam")
    other.goto(post)
    expect(other.get_by_role("navigation", name="Account").get_by_role("link", name="Sam Ortiz")).to_be_visible()
    expect(other.get_by_role("textbox", name="Your comment")).to_be_visible()
    expect(other.get_by_text(body)).to_have_count(0)
    expect(other.get_by_text("Riley Park")).to_have_count(0)


def test_without_the_script_the_comment_link_leads_a_signed_in_reader_to_the_form(browsing, live_site):
    page = browsing.context("reader", java_script_enabled=False).new_page()
    page.goto(f"/posts/{live_site.facts['post_slug']}/")
    page.get_by_role("link", name="Sign in to comment").click()
    expect(page.get_by_role("textbox", name="Your comment")).to_be_visible()
    expect(page.get_by_role("navigation", name="Account").get_by_role("link", name="Riley Park")).to_be_visible()
