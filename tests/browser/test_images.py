"""Images in the post editor, as a writer uses them: a photo dropped into the body, one pasted,
one picked from files, the cover chosen from the library, and readers served a responsive image."""

import base64
import re

import pytest
from playwright.sync_api import Page, expect

from tests.posts.images.pictures import picture_bytes

pytestmark = [pytest.mark.integration, pytest.mark.browser]

SAVE_SECONDS = 15_000
MARKDOWN = re.compile(r"!\[\]\(/media/images/[0-9a-f]{2}/[0-9a-f]{32}\.(png|jpg)\)")
SEND_FILE = """
    async ({kind, name, data, type}) => {
        const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
        const transfer = new DataTransfer();
        transfer.items.add(new File([bytes], name, {type}));
        const body = document.getElementById("id_body");
        body.focus();
        if (kind === "paste") {
            body.dispatchEvent(new ClipboardEvent("paste", {clipboardData: transfer, bubbles: true, cancelable: true}));
        } else {
            body.dispatchEvent(new DragEvent("dragover", {dataTransfer: transfer, bubbles: true, cancelable: true}));
            body.dispatchEvent(new DragEvent("drop", {dataTransfer: transfer, bubbles: true, cancelable: true}));
        }
    }
"""


def send_file(page: Page, kind: str, name: str, data: bytes, mime_type: str) -> None:
    payload = {"kind": kind, "name": name, "data": base64.b64encode(data).decode(), "type": mime_type}
    page.evaluate(SEND_FILE, payload)


def images_loaded(page: Page, selector: str) -> list[int]:
    """The natural widths of the images the selector finds, once each has loaded (0: broken)."""
    return page.eval_on_selector_all(
        selector,
        """(images) => Promise.all(images.map((image) => image.complete ? image.naturalWidth
            : new Promise((done) => { image.onload = image.onerror = () => done(image.naturalWidth); })))""",
    )


def test_a_writer_drops_pastes_and_picks_images_and_sees_them_in_the_preview(browsing):
    page = browsing.page("alice")
    page.goto("/editor/posts/new/")
    page.get_by_label("Title", exact=True).fill("A walk in pictures")
    body = page.locator("#id_body")
    body.fill("Before the pictures.\n")

    send_file(page, "drop", "dropped.png", picture_bytes("PNG", (900, 600), "olive"), "image/png")
    expect(body).to_have_value(re.compile(r"Before the pictures\.\n\n!\[\]\(/media/images/"), timeout=SAVE_SECONDS)
    send_file(page, "paste", "image.png", picture_bytes("PNG", (300, 200), "navy"), "image/png")
    page.locator("[data-image-file]").set_input_files(
        files=[{"name": "picked.jpg", "mimeType": "image/jpeg", "buffer": picture_bytes("JPEG", (640, 480))}]
    )
    expect(page.locator("[data-image-status]")).to_have_text(re.compile("“picked” added"), timeout=SAVE_SECONDS)
    assert len(MARKDOWN.findall(body.input_value())) == 3
    assert "Uploading" not in body.input_value()

    expect(page.locator("#preview img")).to_have_count(3, timeout=SAVE_SECONDS)
    assert all(width > 0 for width in images_loaded(page, "#preview img"))
    expect(page.locator("#save-state")).to_have_text(re.compile(r"^Saved"), timeout=SAVE_SECONDS)


def test_a_file_that_is_not_an_image_is_refused_with_the_servers_reason(browsing):
    page = browsing.page("alice")
    page.goto("/editor/posts/new/")
    page.locator("#id_body").fill("Text stays.")
    send_file(page, "drop", "notes.png", b"%PDF-1.7 not a picture", "image/png")
    expect(page.locator("[data-image-status]")).to_have_text(
        re.compile("notes.png: .*is not an image the site accepts"), timeout=SAVE_SECONDS
    )
    expect(page.locator("#id_body")).to_have_value("Text stays.")  # as it was


def test_an_editor_chooses_a_cover_and_readers_get_responsive_images(browsing):
    editor = browsing.page("editor")
    editor.goto("/editor/posts/new/")
    editor.get_by_label("Title", exact=True).fill("Harbour at dawn")
    send_file(editor, "drop", "harbour.jpg", picture_bytes("JPEG", (1600, 1000), "teal"), "image/jpeg")
    expect(editor.locator("#id_body")).to_have_value(MARKDOWN, timeout=SAVE_SECONDS)

    editor.locator("[data-cover-upload]").click()
    editor.locator("[data-cover-file]").set_input_files(
        files=[{"name": "cover.png", "mimeType": "image/png", "buffer": picture_bytes("PNG", (1400, 800), "maroon")}]
    )
    expect(editor.locator("[data-cover-name]")).to_have_text("From the library: cover", timeout=SAVE_SECONDS)
    editor.locator("[data-cover-library]").click()
    picker = editor.get_by_role("dialog", name="Choose an image")
    picker.get_by_role("searchbox", name="Search").fill("harbour")
    picker.get_by_role("button", name="Search").click()
    picker.get_by_role("button", name="harbour", exact=True).click()
    expect(picker).to_be_hidden()
    expect(editor.locator("[data-cover-name]")).to_have_text("From the library: harbour")

    editor.locator(".actions-panel").get_by_role("button", name="Publish now").click()
    editor.wait_for_url(re.compile(r"/editor/posts/\d+/edit/$"))
    expect(editor.locator("[data-cover-name]")).to_have_text("From the library: harbour")

    reader = browsing.page()
    reader.goto(editor.locator("a", has_text="View on site").get_attribute("href"))
    pictures = reader.locator("article.post picture")
    expect(pictures).to_have_count(2)  # the cover and the body's image
    body_image = reader.locator(".post-body picture img")
    expect(body_image).to_have_attribute("srcset", re.compile(r" 480w, .* 800w, .* 1200w, .* 1600w$"))
    expect(body_image).to_have_attribute("width", "1600")
    assert all(width > 0 for width in images_loaded(reader, "article.post picture img"))
    og_image = reader.locator('meta[property="og:image"]').get_attribute("content")
    assert re.search(r"/media/images/.*-card\.jpg$", og_image)
