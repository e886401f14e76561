"""Alt text as a new user meets it, in Chromium on the live site: a photo put into a post, a
suggestion from a model that reads images, Accept, Publish, and the post page's image described."""

import io
import os
import re
from collections.abc import Iterator

import pytest
from PIL import Image as Picture
from playwright.sync_api import Page, expect, sync_playwright

from tests.browser.live_site import PASSWORD, LiveSite
from tests.engine_simulator import EngineSimulator

pytestmark = pytest.mark.integration

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
SUGGESTION = "A wooden dock reaching into a calm lake at dawn."


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[LiveSite]:
    """The live site, its Ollama serving a text model and a model that reads images."""
    engine = EngineSimulator(
        models=["llama3.2:1b", "llava:7b"], vision_models=["llava:7b"], reply=SUGGESTION, tokens_per_second=60
    ).start()
    site = LiveSite(folder=tmp_path_factory.mktemp("alt-text-site"), engine=engine)
    try:
        yield site.start()
    finally:
        site.stop()
        engine.stop()


@pytest.fixture
def page(site) -> Iterator[Page]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox"])
        context = browser.new_context(base_url=site.url)
        context.set_default_timeout(15_000)
        errors: list[str] = []
        context.on("weberror", lambda error: errors.append(str(error.error)))
        yield context.new_page()
        browser.close()
    assert errors == [], "no script on the pages failed"


def sign_in(page: Page, username: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/accounts/login/" not in url)


def photo(tmp_path) -> str:
    path = tmp_path / "dock.jpg"
    Picture.new("RGB", (2400, 1600), (60, 110, 150)).save(path, format="JPEG")
    return str(path)


def test_a_photo_in_a_post_gets_alt_text_suggested_accepted_and_shown(site, page, tmp_path):
    sign_in(page, "editor")
    page.goto("/editor/posts/new/")
    page.locator("#id_title").fill("A morning at the lake")
    body = page.locator("#id_body")
    body.fill("We got up early.\n\n")
    body.press("End")
    page.locator("[data-image-file]").set_input_files(photo(tmp_path))
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
    (sent,) = [record for record in site.engine.requests_to("/api/chat") if record.images]
    assert Picture.open(io.BytesIO(sent.images[0])).size == (1024, 683)
