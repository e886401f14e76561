"""Hostile text in every field a person can type must never reach readers as live markup."""

import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest
from django.conf import settings

from accounts.roles import Role
from posts.services import tags_from_names
from tests.factories import CommentFactory, PostFactory, UserFactory

pytestmark = pytest.mark.django_db

PAYLOADS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[x](javascript:alert(1))",
    '<a href="javascript:alert(1)">x</a>',
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    '<iframe src="https://evil.example/"></iframe>',
    "<style>body{display:none}</style>",
    "<b><i>unclosed",
    '"><script>alert(1)</script>',
    "'><img src=x onerror=alert(1)>",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![x](data:image/svg+xml,<svg onload=alert(1)>)",
    '<a href="&#106;avascript:alert(1)">x</a>',
    "[x](JaVaScRiPt:alert(1))",
    "</textarea><script>alert(1)</script>",
    "</script><script>alert(1)</script>",
]

DANGEROUS_ELEMENTS = {"script", "iframe", "frame", "frameset", "object", "embed", "style", "svg", "math", "base"}
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "poster", "background"}
DANGEROUS_SCHEMES = ("javascript:", "vbscript:", "data:")


class MarkupChecker(HTMLParser):
    """Collects every element, handler attribute and URL a browser could run or load as script."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "script" and attributes.get("type") == "application/ld+json":
            return  # structured data, inert; its JSON is escaped so it cannot close the element
        if tag == "script" and (attributes.get("src") or "").startswith(settings.STATIC_URL):
            return  # the site's own script file (the page fills in the reader's own parts with it)
        if tag in DANGEROUS_ELEMENTS:
            self.problems.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"{tag}[{name}]")
            compact = "".join((value or "").split()).lower()
            if name in URL_ATTRIBUTES and compact.startswith(DANGEROUS_SCHEMES):
                self.problems.append(f"{tag}[{name}={value}]")

    handle_startendtag = handle_starttag


def markup_problems(html: str) -> list[str]:
    checker = MarkupChecker()
    checker.feed(html)
    checker.close()
    return checker.problems


def feed_html_fields(xml: bytes) -> list[str]:
    """The feed fields that readers render as HTML (RSS description, Atom summary)."""
    root = ET.fromstring(xml)
    return [el.text or "" for el in root.iter() if el.tag in ("description", "{http://www.w3.org/2005/Atom}summary")]


@pytest.fixture(params=PAYLOADS)
def hostile_post(request):
    payload = request.param
    writer = UserFactory(username="writer", display_name=payload, role=Role.AUTHOR, bio=payload)
    post = PostFactory(
        title=f"{payload} findme",
        body=f"{payload}\n\nfindme {payload}",
        excerpt=payload,
        meta_title=payload[:70],
        meta_description=payload,
        author=writer,
        tags=tags_from_names([payload]),
    )
    CommentFactory(post=post, body=payload)
    return post


def test_pages_show_hostile_text_as_text(client, hostile_post):
    tag = hostile_post.tags.get()
    urls = [
        "/",
        hostile_post.get_absolute_url(),
        tag.get_absolute_url(),
        "/authors/writer/",
        "/search/?q=findme",
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        assert markup_problems(response.content.decode()) == [], url


def test_feeds_carry_hostile_text_only_as_inert_html(client, hostile_post):
    for url in ["/feed/", "/feed/atom/"]:
        response = client.get(url)
        assert response.status_code == 200
        fields = feed_html_fields(response.content)  # parsing also proves the XML is well formed
        assert fields
        for html in fields:
            assert markup_problems(html) == [], url


@pytest.mark.parametrize("payload", PAYLOADS)
def test_search_query_is_shown_as_text(client, payload):
    response = client.get("/search/", {"q": payload})
    assert markup_problems(response.content.decode()) == []


@pytest.mark.parametrize("payload", PAYLOADS)
def test_a_signed_in_commenter_sees_rejected_text_back_as_text(client, reader, settings, payload):
    settings.COMMENT_BODY_MAX_CHARS = 5
    post = PostFactory()
    client.force_login(reader)
    response = client.post(f"/posts/{post.slug}/comments/", {"body": payload})
    assert response.status_code == 400
    assert markup_problems(response.content.decode()) == []


def test_the_checker_spots_live_markup():
    page = (
        '<p><script>x()</script><img src=x onerror=y()><a href=" JaVaScript:z()">a</a>'
        '<svg onload=z()></svg><iframe src="https://e.example"></iframe><img src="data:image/png;base64,AA"></p>'
    )
    assert markup_problems(page) == [
        "<script>",
        "img[onerror]",
        "a[href= JaVaScript:z()]",
        "<svg>",
        "svg[onload]",
        "<iframe>",
        "img[src=data:image/png;base64,AA]",
    ]
