"""Alt text as a new user meets it: a photo put into a post, a suggestion from a model that reads
images, Accept, Publish, and the post page's image described."""

import io
import re

import pytest
from PIL import Image as Picture
from playwright.sync_api import expect

from tests.posts.images.pictures import picture_bytes

pytestmark = [pytest.mark.integration, pytest.mark.browser]

SUGGESTION = "A wooden dock reaching into a calm lake at dawn."


def images_sent(engine) -> list:
    """The chat requests that carried an image to the engine."""
    return [record for record in engine.requests_to("/api/chat") if record.images]


def test_a_photo_in_a_post_gets_alt_text_suggested_accepted_and_shown(browsing, live_site, monkeypatch):
    monkeypatch.setattr(live_site.engine, "reply", SUGGESTION)
    already_sent = len(images_sent(live_site.engine))
    page = browsing.page("editor")
    page.goto("/editor/posts/new/")
    page.locator("#id_title").fill("A morning at the lake")
    body = page.locator("#id_body")
    body.fill("We got up early.\n\n")
    body.press("End")
    page.locator("[data-image-file]").set_input_files(
        files=[{"name": "dock.jpg", "mimeType": "image/jpeg", "buffer": picture_bytes("JPEG", (2400, 1600))}]
    )
    expect(body).to_have_value(re.compile(r"!\[[^\]]*\]\(/media/images/"))
    expect(page.locator("#preview img")).to_have_count(1)

    panel = page.locator("[data-ai-alt-text-editor]")
    expect(panel.get_by_label("Model")).to_have_value("llava:7b")
    panel.get_by_role("button", name="Find images without alt text").click()
    item = panel.locator("[data-alt-list] li")
    expect(item).to_have_count(1)
    item.get_by_role("button", name="Suggest alt text").click()
    expect(item.locator("[data-alt-output]")).to_have_text(SUGGESTION)
    item.get_by_role("button", name="Accept").click()
    expect(item).to_contain_text("is its alt text in the media library now")

    page.get_by_role("button", name="Publish now").click()
    expect(page.get_by_text("Published: readers can see the post now.")).to_be_visible()
    expect(page.get_by_text(re.compile(r"images? ha(s|ve) no alt text"))).to_have_count(0)

    page.goto("/")
    page.get_by_role("link", name="A morning at the lake").first.click()
    image = page.locator("article img").first
    expect(image).to_have_attribute("alt", SUGGESTION)
    expect(image).to_have_attribute("srcset", re.compile(r"\d+w"))
    (sent,) = images_sent(live_site.engine)[already_sent:]
    assert Picture.open(io.BytesIO(sent.images[0])).size == (1024, 683)
