"""axe-core (tests/browser/package.json) on the project's main pages, on a desktop screen, and on a
phone's for the reader pages and the post editor: no violation that axe rates serious or critical."""

import pytest

from tests.browser.conftest import BROWSER_DIR
from tests.browser.pages import SitePage

pytestmark = [pytest.mark.integration, pytest.mark.browser]

AXE = BROWSER_DIR / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = ("serious", "critical")


PHONE_PAGES = (
    "index",
    "post",
    "post, signed in",
    "post with a library image",
    "tag",
    "search",
    "author",
    "post editor",
)


def main_pages(facts: dict) -> list[SitePage]:
    post, draft, author = facts["post_pk"], facts["draft_pk"], facts["draft_author"]
    return [
        SitePage("index", "/"),
        SitePage("post", f"/posts/{facts['post_slug']}/"),
        SitePage("post, signed in", f"/posts/{facts['post_slug']}/", user="reader"),
        SitePage("post with a library image", f"/posts/{facts['image_post_slug']}/"),
        SitePage("tag", f"/tags/{facts['tag_slug']}/"),
        SitePage("search", "/search/?q=python"),
        SitePage("author", f"/authors/{facts['author']}/"),
        SitePage("sign in", "/accounts/login/"),
        SitePage("sign up", "/accounts/signup/"),
        SitePage("editor's dashboard", "/editor/", user="editor"),
        SitePage("author's dashboard", "/editor/", user=author),
        SitePage("post editor", f"/editor/posts/{draft}/edit/", user=author),
        SitePage("new post", "/editor/posts/new/", user=author),
        SitePage("revisions", f"/editor/posts/{post}/revisions/", user="editor"),
        SitePage("revision", f"/editor/posts/{post}/revisions/1/", user="editor"),
        SitePage("revision comparison", f"/editor/posts/{post}/revisions/compare/?old=1&new=current", user="editor"),
        SitePage("comment moderation", "/editor/comments/", user="editor"),
        SitePage("media library", "/editor/media/", user=author),
        SitePage("media library, an image", f"/editor/media/{facts['image_pk']}/", user="alice"),
    ]


def violations(page, *, rules: list[str] | None = None, impacts=BLOCKING) -> list[dict]:
    """axe's violations on the page as it is now, those of the given impacts (or rules only)."""
    page.add_script_tag(path=AXE)
    options = {"resultTypes": ["violations"]}
    if rules:
        options["runOnly"] = {"type": "rule", "values": rules}
    found = page.evaluate("async (options) => (await axe.run(document, options)).violations", options)
    return [
        {
            "rule": violation["id"],
            "impact": violation["impact"],
            "help": violation["help"],
            "where": [node["target"] for node in violation["nodes"]][:5],
        }
        for violation in found
        if violation["impact"] in impacts
    ]


@pytest.mark.parametrize("phone", [False, True], ids=["desktop", "phone"])
def test_main_pages_have_no_serious_accessibility_violation(browsing, live_site, phone):
    contexts, found = {}, {}
    for site_page in main_pages(live_site.facts):
        if phone and site_page.name not in PHONE_PAGES:
            continue
        if site_page.user not in contexts:
            # axe is added to the page as a script, which the site's Content Security Policy would refuse.
            contexts[site_page.user] = browsing.context(site_page.user, phone=phone, bypass_csp=True)
        page = contexts[site_page.user].new_page()
        page.goto(site_page.path)
        if problems := violations(page):
            found[f"{site_page.name} ({site_page.path})"] = problems
        page.close()
    assert not found, found


@pytest.mark.parametrize("path", ["/search/", "/search/?q=python"])
def test_the_search_page_names_its_search_form_apart_from_the_header_one(browsing, path):
    page = browsing.page(bypass_csp=True)
    page.goto(path)
    assert page.get_by_role("search").count() == 2
    assert violations(page, rules=["landmark-unique"], impacts=("minor", "moderate", *BLOCKING)) == []


def test_a_wide_code_block_on_a_phone_can_be_scrolled_with_the_keyboard(browsing, live_site):
    page = browsing.page(phone=True, bypass_csp=True)
    page.goto(f"/posts/{live_site.facts['post_slug']}/")
    block = page.locator("article pre").first
    # The demo post's code is wider than a phone's screen: the block scrolls sideways.
    assert block.evaluate("pre => pre.scrollWidth > pre.clientWidth")
    assert violations(page, rules=["scrollable-region-focusable"]) == []
    block.focus()
    page.keyboard.press("ArrowRight")
    page.wait_for_function("() => document.querySelector('article pre').scrollLeft > 0")
