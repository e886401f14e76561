from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from accounts.roles import Role
from posts import selectors, services
from posts.forms import SEARCH_QUERY_MAX_CHARS
from posts.models import Post, PostStatus
from posts.templatetags.posts_search import search_snippet
from tests.factories import PostFactory, UserFactory

pytestmark = pytest.mark.django_db


def results(response) -> str:
    content = response.content.decode()
    return content[content.index('<div class="layout-main">') : content.index('<aside class="sidebar"')]


@pytest.fixture
def posts():
    PostFactory(title="Gardening for beginners", body="Tomatoes need sun.", excerpt="Start small.")
    PostFactory(title="Bread at home", body="Knead the dough and let it rise near the tomatoes.", excerpt="Flour.")
    PostFactory(title="Secret tomatoes draft", body="tomatoes", status=PostStatus.DRAFT, published_at=None)


def test_search_finds_posts_by_title_words(client, posts):
    response = client.get("/search/", {"q": "gardening"})
    assert response.status_code == 200
    assert "Gardening for beginners" in results(response)
    assert "Bread at home" not in results(response)
    assert "1 post found." in results(response)


def test_search_finds_posts_by_body_words_and_ignores_drafts(client, posts):
    page = results(client.get("/search/", {"q": "Tomatoes"}))
    assert "Gardening for beginners" in page
    assert "Bread at home" in page
    assert "2 posts found." in page
    assert "Secret tomatoes draft" not in page


def test_every_word_must_match(client, posts):
    page = results(client.get("/search/", {"q": "tomatoes dough"}))
    assert "Bread at home" in page
    assert "Gardening for beginners" not in page


def test_search_with_no_match_says_so(client, posts):
    page = results(client.get("/search/", {"q": "spaceships"}))
    assert "No posts match your search." in page


@pytest.mark.parametrize("query", ["", "   "])
def test_empty_search_explains_what_to_do(client, posts, query):
    response = client.get("/search/", {"q": query})
    assert response.status_code == 200
    assert "Type one or more words to search" in results(response)
    assert "Gardening for beginners" not in results(response)


def test_search_page_without_a_query_explains_what_to_do(client):
    assert "Type one or more words to search" in results(client.get("/search/"))


def test_too_long_search_is_refused_with_a_clear_message(client, posts):
    response = client.get("/search/", {"q": "tomatoes " * 30})
    assert response.status_code == 400
    assert f"Searches are limited to {SEARCH_QUERY_MAX_CHARS} characters (yours has 269)." in results(response)
    assert "Gardening for beginners" not in results(response)


def test_search_results_are_paginated_and_keep_the_query(client, settings):
    settings.POSTS_PER_PAGE = 2
    for n in range(5):
        PostFactory(title=f"Sourdough part {n}")
    first = results(client.get("/search/", {"q": "sourdough"}))
    assert "5 posts found." in first
    assert 'href="?q=sourdough&amp;page=2" rel="next"' in first
    third = results(client.get("/search/", {"q": "sourdough", "page": 3}))
    assert third.count("Sourdough part") == 1
    assert client.get("/search/", {"q": "sourdough", "page": 4}).status_code == 404


def test_the_query_is_kept_in_the_search_boxes(client, posts):
    content = client.get("/search/", {"q": "bread"}).content.decode()
    assert content.count('value="bread"') == 2
    assert "<h1>Results for “bread”</h1>" in content


@pytest.mark.sqlite
def test_sqlite_matches_parts_of_words(client, posts):
    page = results(client.get("/search/", {"q": "garden"}))
    assert "Gardening for beginners" in page
    assert "1 post found." in page


@pytest.mark.postgresql
def test_other_forms_of_a_word_are_found(client, posts):
    page = results(client.get("/search/", {"q": "gardens"}))
    assert "Gardening for beginners" in page
    assert "1 post found." in page


@pytest.mark.postgresql
def test_phrases_and_excluded_words(client, posts):
    assert "Bread at home" in results(client.get("/search/", {"q": '"let it rise"'}))
    page = results(client.get("/search/", {"q": "tomatoes -dough"}))
    assert "Gardening for beginners" in page
    assert "Bread at home" not in page


@pytest.mark.postgresql
def test_a_match_in_the_title_ranks_above_one_in_the_body(client):
    PostFactory(title="Notes from the allotment", body="Weeding, then kale.", published_at=timezone.now())
    PostFactory(title="Kale, three ways", body="Greens.", published_at=timezone.now() - timedelta(days=30))
    page = results(client.get("/search/", {"q": "kale"}))
    assert page.index("Kale, three ways") < page.index("Notes from the allotment")


@pytest.mark.postgresql
def test_results_show_where_the_words_matched(client):
    PostFactory(
        title="A long walk",
        body=" ".join(["We walked for hours through fields and woods."] * 20 + ["Then a heron stood in the river."]),
        excerpt="A day outside.",
    )
    page = results(client.get("/search/", {"q": "heron"}))
    assert '<p class="search-snippet">' in page
    assert "a <mark>heron</mark> stood in the river" in page
    assert "A day outside." not in page  # the snippet replaces the excerpt


@pytest.mark.postgresql
def test_a_snippet_never_turns_post_text_into_markup(client):
    PostFactory(title="Escaping", body="Type `<script>alert(1)</script>` & see: the heron <b>is</b> fine.")
    page = results(client.get("/search/", {"q": "heron"}))
    assert "<script>" not in page and "<b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; see: the <mark>heron</mark>" in page


@pytest.mark.postgresql
def test_the_search_uses_the_full_text_index(db):
    author = UserFactory(role=Role.AUTHOR)
    now = timezone.now()
    Post.objects.bulk_create(
        Post(title=f"Post {n}", slug=f"post-{n}", author=author, status=PostStatus.PUBLISHED, published_at=now)
        for n in range(300)
    )
    PostFactory(title="The one about herons")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE posts_post")
    plan = selectors.post_search(query="herons").explain()
    assert "posts_post_search" in plan


@pytest.mark.parametrize(
    ("headline", "html"),
    [
        ("the \ue000heron\ue001 stood", "the <mark>heron</mark> stood"),
        ("a &lt;b&gt; tag &amp; \ue000more\ue001", "a &lt;b&gt; tag &amp; <mark>more</mark>"),
        ("<img src=x onerror=alert(1)>\ue000x\ue001", "&lt;img src=x onerror=alert(1)&gt;<mark>x</mark>"),
        ("stray \ue001 marker \ue000", "stray marker"),
        ("  lines\n\nand   spaces ", "lines and spaces"),
    ],
)
def test_snippets_are_escaped_with_only_the_matches_marked(headline, html):
    assert search_snippet(headline) == html


def test_a_repeated_search_is_answered_from_the_cache(client, posts, django_assert_num_queries):
    first = results(client.get("/search/", {"q": "tomatoes"}))
    with django_assert_num_queries(0):
        again = results(client.get("/search/", {"q": "  tomatoes "}))  # the same words, spaced apart
    assert again == first.replace('value="tomatoes"', 'value="  tomatoes "')
    assert "Gardening for beginners" in again and "2 posts found." in again


def test_search_results_follow_changes_to_public_posts(client, posts, editor, django_capture_on_commit_callbacks):
    assert "1 post found." in results(client.get("/search/", {"q": "gardening"}))
    with django_capture_on_commit_callbacks(execute=True):
        post = services.post_create(author=editor, data={"title": "Gardening in winter", "body": "Frost."})
        services.post_publish(post=post, by=editor)
    page = results(client.get("/search/", {"q": "gardening"}))
    assert "Gardening in winter" in page and "2 posts found." in page
