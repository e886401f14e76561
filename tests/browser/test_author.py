"""An author's journeys in the post editor: a new post saved by autosave and a reload right after
typing, an AI draft streamed into the panel and inserted, a passage rewritten in place, and the
post submitted for review."""

import re

import pytest
from playwright.sync_api import Page, expect

pytestmark = [pytest.mark.integration, pytest.mark.browser]

SAVE_SECONDS = 15_000  # ms: autosave waits 3 s after the last keystroke, then the request
DRAFT = (
    "Good notes start with a question. Write it at the top of the page, then answer it in plain words, "
    "one idea to a paragraph, and stop when the question is answered."
)
SHORTER = "Short notes win."


def new_post(page: Page, title: str, body: str) -> None:
    page.goto("/editor/posts/new/")
    page.get_by_label("Title", exact=True).fill(title)
    page.locator("#id_body").fill(body)
    expect(page.locator("#save-state")).to_have_text(re.compile(r"^Saved"), timeout=SAVE_SECONDS)
    expect(page).to_have_url(re.compile(r"/editor/posts/\d+/edit/$"))


def record_text_changes(page: Page, selector: str) -> None:
    """Keeps every text the element shows, to tell a streamed answer from one put in at once."""
    page.evaluate(
        """(selector) => {
            const element = document.querySelector(selector);
            window.seenTexts = [];
            new MutationObserver(() => window.seenTexts.push(element.textContent)).observe(
                element, {childList: true, characterData: true, subtree: true});
        }""",
        selector,
    )


def test_an_author_reloads_right_after_typing_and_goes_on_without_conflicting_with_their_own_save(browsing):
    page = browsing.page("alice")
    new_post(page, "Notes written in the browser", "The first paragraph, saved by autosave.")

    body = page.locator("#id_body")
    body.press("End")
    body.press_sequentially(" Then a second sentence.")
    page.reload()  # well within the autosave's delay: the save, if any, is still on its way
    expect(body).to_have_value("The first paragraph, saved by autosave. Then a second sentence.")
    expect(page.locator("#local-copy-offer")).to_be_hidden()

    body.press("End")
    body.press_sequentially(" And a third.")
    expect(page.locator("#save-state")).to_have_text(re.compile(r"^Saved"), timeout=SAVE_SECONDS)
    expect(page.locator("#autosave-conflict")).to_be_hidden()
    # What the server kept: a fresh page shows the whole text, with nothing left to restore.
    fresh = browsing.page("alice")
    fresh.goto(page.url)
    expect(fresh.locator("#id_body")).to_have_value(
        "The first paragraph, saved by autosave. Then a second sentence. And a third."
    )
    expect(fresh.locator("#local-copy-offer")).to_be_hidden()


def test_an_author_streams_an_ai_draft_inserts_it_rewrites_a_passage_in_place_and_submits_for_review(
    browsing, live_site, monkeypatch
):
    monkeypatch.setattr(
        live_site.engine, "reply", lambda request: SHORTER if "shorter" in str(request).lower() else DRAFT
    )
    page = browsing.page("alice")
    new_post(page, "A post the AI writer helps with", "Intro.\n\n")
    expect(page.locator("[data-ai-connection]")).to_have_text(re.compile("ready", re.I))

    # A draft, streamed into the panel: nothing reaches the post until Insert.
    page.locator("#ai-action").select_option("draft")
    page.locator("#ai-instruction").fill("How to take good notes")
    record_text_changes(page, "#ai-output")
    page.locator("#ai-generate").click()
    expect(page.locator("#ai-output")).to_have_text(DRAFT)
    seen = page.evaluate("window.seenTexts")
    assert len({text for text in seen if text and text != DRAFT}) >= 3, seen
    expect(page.locator("#id_body")).to_have_value("Intro.\n\n")
    body = page.locator("#id_body")
    body.evaluate("body => { body.focus(); body.setSelectionRange(body.value.length, body.value.length); }")
    page.locator("#ai-insert").click()
    expect(body).to_have_value(f"Intro.\n\n{DRAFT}")

    # The first sentence of the draft, made shorter where it stands: Accept replaces exactly it.
    sentence = DRAFT.split(". ")[0] + "."
    start = len("Intro.\n\n")
    body.evaluate(f"body => {{ body.focus(); body.setSelectionRange({start}, {start + len(sentence)}); }}")
    page.locator("#ai-inline-toolbar").get_by_role("button", name="Shorter").click()
    expect(page.locator("#ai-inline-before")).to_have_text(sentence)
    expect(page.locator("#ai-inline-after")).to_have_text(SHORTER)
    page.locator("#ai-inline-accept").click()
    expect(body).to_have_value(f"Intro.\n\n{SHORTER}{DRAFT[len(sentence) :]}")

    page.locator(".actions-panel").get_by_role("button", name="Submit for review").click()
    expect(page.locator("#actions-heading")).to_have_text("In review")
    expect(page.locator("#id_body")).to_have_value(f"Intro.\n\n{SHORTER}{DRAFT[len(sentence) :]}")
    expect(page.locator("#autosave-conflict")).to_be_hidden()
