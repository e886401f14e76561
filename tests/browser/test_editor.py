"""An editor's journeys: changes requested on a post in review, then published; a reader's comment
moderated in the editor's queue; a batch AI job followed to its end."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.integration, pytest.mark.browser]

JOB_SECONDS = 60_000  # ms: a Celery worker runs each item against the engine simulator


def test_an_editor_requests_changes_the_author_makes_them_and_the_editor_publishes(browsing, live_site):
    facts = live_site.facts
    title, note = facts["review_title"], "Please add an example to the second section."
    editor = browsing.page("editor")
    editor.goto("/editor/")
    editor.locator(".review-queue").get_by_role("link", name=title).click()
    expect(editor.locator("#actions-heading")).to_have_text("In review")
    editor.get_by_text("Request changes").click()
    editor.get_by_label("What should the author change?").fill(note)
    editor.get_by_role("button", name="Send back to the author").click()
    expect(editor.get_by_text("as a draft, with your note")).to_be_visible()
    expect(editor.locator("#actions-heading")).to_have_text("Draft")

    author = browsing.page(facts["review_author"])
    author.goto("/editor/")
    expect(author.get_by_text(note)).to_be_visible()
    author.get_by_role("link", name=title).first.click()
    expect(author.locator("#change-request")).to_contain_text(note)
    body = author.locator("#id_body")
    body.press("End")
    body.press_sequentially("\n\nFor example, a list of three steps.")
    author.locator(".actions-panel").get_by_role("button", name="Submit for review").click()
    expect(author.locator("#actions-heading")).to_have_text("In review")
    expect(author.locator("#change-request")).to_have_count(0)

    editor.goto("/editor/")
    editor.locator(".review-queue").get_by_role("link", name=title).click()
    editor.locator(".actions-panel").get_by_role("button", name="Publish now").click()
    expect(editor.locator("#actions-heading")).to_have_text("Published")
    reader = browsing.page()
    reader.goto(editor.get_by_role("link", name="View on site").get_attribute("href"))
    expect(reader.get_by_role("heading", level=1)).to_have_text(title)
    expect(reader.locator("article")).to_contain_text("For example, a list of three steps.")


def test_an_editor_approves_a_readers_comment_from_the_queue(browsing, live_site):
    post = f"/posts/{live_site.facts['post_slug']}/"
    comment = "Waiting for an editor: does this work on Windows too?"
    reader = browsing.page("sam")
    reader.goto(post)
    reader.get_by_label("Your comment").fill(comment)
    reader.get_by_role("button", name="Post comment").click()
    expect(reader.get_by_text("An editor will review it")).to_be_visible()

    editor = browsing.page("editor")
    editor.goto("/editor/")
    pending = int(editor.locator("#pending-comment-count").inner_text())
    assert pending >= 1
    editor.get_by_role("link", name="Moderate comments").click()
    row = editor.locator("tr", has_text=comment)
    expect(row).to_have_count(1)
    row.get_by_role("button", name="Approve").click()
    expect(editor.locator("tr", has_text=comment)).to_have_count(0)
    editor.goto("/editor/")
    expect(editor.locator("#pending-comment-count")).to_have_text(str(pending - 1))

    visitor = browsing.page()
    visitor.goto(post)
    expect(visitor.locator("#comments")).to_contain_text(comment)


def test_an_editor_follows_a_batch_job_to_its_end(browsing, live_site, monkeypatch):
    live_site.start_worker()
    monkeypatch.setattr(live_site.engine, "reply", "A short summary of the post, in one sentence.")
    page = browsing.page("editor")
    page.goto("/editor/")
    panel = page.locator("#ai-jobs")
    expect(panel.locator("[data-jobs-connection]")).to_have_text("Live.")
    panel.locator("#ai-jobs-action").select_option("summarize")
    panel.get_by_label("Replace text already there").check()
    panel.locator("summary").click()
    boxes = panel.locator("input[name=post_ids]")
    for n in range(3):
        boxes.nth(n).check()
    panel.get_by_role("button", name="Run on selected posts").click()

    job = panel.locator("[data-job]")
    expect(job).to_be_visible()
    expect(job.locator("[data-job-status]")).to_have_text("(Done)", timeout=JOB_SECONDS)
    expect(job.locator("[data-job-counts]")).to_have_text(re.compile(r"^3 of 3 posts processed, 3 changed"))
    assert job.locator("progress").evaluate("bar => [bar.value, bar.max]") == [3, 3]
    expect(job.locator("[data-job-items] li")).to_have_count(3)
    expect(job.locator("[data-job-cancel]")).to_be_hidden()
