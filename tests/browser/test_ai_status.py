"""The AI panel's status line tells an author what is happening, in plain words: when the engine
stops, while it is away, when it is back, and when the panel streams over Server-Sent Events
because the WebSocket cannot connect."""

import time

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.integration, pytest.mark.browser]

UNAVAILABLE = "The AI writer is unavailable right now; your text is safe."
# A browser whose WebSocket never opens: the panel falls back to Server-Sent Events.
NO_WEBSOCKET = """
  window.WebSocket = class {
    constructor() {
      this.readyState = 3;
      this.listeners = {};
      setTimeout(() => (this.listeners.close || []).forEach((listener) => listener({ code: 1006 })), 10);
    }
    addEventListener(name, listener) { (this.listeners[name] ||= []).push(listener); }
    send() {}
  };
  window.WebSocket.OPEN = 1;
"""


def test_the_status_follows_the_engine_away_and_back_without_operator_details(browsing, live_site):
    page = browsing.page("alice")
    page.goto("/editor/posts/new/")
    status = page.locator("[data-ai-connection]")
    expect(status).to_have_text("Ready.")
    page.fill("#id_title", "Brewing green tea")

    live_site.engine.stop()
    try:
        page.locator("#ai-generate").click()
        expect(status).to_have_text(UNAVAILABLE, timeout=20_000)
        panel = page.locator("#ai-panel").inner_text()
        assert "127.0.0.1" not in panel and "ollama serve" not in panel.lower(), panel
        time.sleep(2)  # the panel asks for the models again meanwhile: it must not call itself ready
        expect(status).to_have_text(UNAVAILABLE)
    finally:
        live_site.engine.start()

    expect(status).to_have_text("Ready.", timeout=45_000)
    page.locator("#ai-generate").click()
    expect(page.locator("#ai-retry")).to_be_visible(timeout=20_000)
    expect(page.locator("[data-ai-error]")).to_be_hidden()
    expect(status).not_to_contain_text("unavailable")


def test_streaming_over_server_sent_events_never_says_the_panel_cannot_connect(browsing):
    context = browsing.context("alice")
    context.add_init_script(NO_WEBSOCKET)
    page = context.new_page()
    page.goto("/editor/posts/new/")
    status = page.locator("[data-ai-connection]")
    expect(status).to_have_text("Ready.")
    page.fill("#id_title", "Brewing green tea")

    page.locator("#ai-generate").click()
    seen = set()
    deadline = time.monotonic() + 20
    while not page.locator("#ai-retry").is_visible() and time.monotonic() < deadline:
        seen.add(status.inner_text())
        time.sleep(0.05)
    seen.add(status.inner_text())
    expect(page.locator("#ai-retry")).to_be_visible()
    assert not [text for text in seen if "connect" in text.lower()], seen
    expect(page.locator("#ai-output")).not_to_be_empty()
