"""A strict Content-Security-Policy on every page: scripts and styles from the site's own files only.

The pages are checked for what such a policy would block: inline scripts (a <script> without
src that a browser would run), event-handler attributes, <style> elements and style attributes.
JSON handed to scripts with json_script and the JSON-LD block are data, which a policy leaves alone.
"""

import asyncio
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from csp.utils import build_policy
from django.conf import settings

from accounts.roles import Role
from tests.factories import PostFactory, UserFactory
from tests.posts.readers import site

DATA_SCRIPT_TYPES = {"application/json", "application/ld+json"}
NGINX_CONF = Path(settings.BASE_DIR) / "deploy" / "nginx.conf"


def directives(response) -> dict[str, list[str]]:
    return parsed(response.headers.get("Content-Security-Policy", ""))


def assert_strict(response) -> None:
    policy = directives(response)
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert not any(value.startswith("'unsafe") for values in policy.values() for value in values)


class InlineCode(HTMLParser):
    """What a strict policy would block in a page."""

    def __init__(self):
        super().__init__()
        self.blocked: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "script":
            self.scripts += 1
            if "src" not in attributes and attributes.get("type") not in DATA_SCRIPT_TYPES:
                self.blocked.append(f"inline script {self.get_starttag_text()}")
        if tag == "style":
            self.blocked.append("a <style> element")
        self.blocked.extend(f"{name} on <{tag}>" for name in attributes if name.startswith("on") or name == "style")
        if "javascript:" in (attributes.get("href") or "").lower():
            self.blocked.append(f"javascript: link on <{tag}>")


def assert_nothing_inline(response) -> None:
    parser = InlineCode()
    parser.feed(response.content.decode())
    assert parser.blocked == []
    return parser


@pytest.fixture
def post(db):
    return PostFactory(title="Readable", body="Some *text* and ![a picture](https://img.example/a.png)")


def test_reader_pages_carry_the_policy_and_nothing_it_would_block(client, post):
    for url in ("/", post.get_absolute_url(), "/search/?q=text", "/accounts/login/", "/accounts/signup/"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert_strict(response)
        assert_nothing_inline(response)
    policy = directives(client.get("/"))
    assert policy["img-src"] == ["'self'", "https:", "data:"]  # posts show pictures from anywhere on https


def test_the_editor_carries_the_policy_and_its_scripts_are_files(client, post):
    client.force_login(UserFactory(role=Role.AUTHOR))
    for url in ("/editor/", "/editor/posts/new/"):
        response = client.get(url)
        assert_strict(response)
        parser = assert_nothing_inline(response)
        assert parser.scripts >= 1, "the editor's scripts are files, and its settings JSON data"
    assert directives(response)["connect-src"] == ["'self'"]  # autosave, preview and the AI writer's socket


def test_the_admin_carries_the_policy_and_works_under_it(client, post):
    client.force_login(UserFactory(role=Role.STAFF, is_superuser=True, is_staff=True))
    for url in ("/admin/", "/admin/posts/post/", f"/admin/posts/post/{post.pk}/change/", "/admin/accounts/user/add/"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert_strict(response)
        assert_nothing_inline(response)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_pages_from_the_page_cache_carry_the_policy_too():
    post = PostFactory(title="Cached")

    async def fetch_twice():
        async with site() as reader:
            first = await reader.get(post.get_absolute_url())
            second = await reader.get(post.get_absolute_url())
        return first, second

    first, second = asyncio.run(fetch_twice())
    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("MISS", "HIT")
    assert second.headers["content-security-policy"] == first.headers["content-security-policy"]
    assert "script-src 'self'" in second.headers["content-security-policy"]


def parsed(policy: str) -> dict[str, list[str]]:
    return {name: values for name, *values in (part.split() for part in policy.split(";") if part.strip())}


def test_nginx_sends_the_same_policy_on_what_django_does_not_answer():
    conf = NGINX_CONF.read_text()
    mapped = re.search(r"map \$upstream_http_content_security_policy \$content_security_policy \{(.*?)\}", conf, re.S)
    assert mapped, "nginx fills in the policy where the upstream sent none"
    policy = re.search(r'^\s*"" "(.*)";$', mapped.group(1), re.M).group(1)
    assert parsed(policy) == parsed(build_policy())
    # add_header in a location replaces every inherited one, so each location with its own repeats it.
    assert conf.count("add_header Content-Security-Policy $content_security_policy always;") == 1 + len(
        re.findall(r"^\s+location [^{]*\{[^}]*add_header (?!Content-Security-Policy)", conf, re.M)
    )
