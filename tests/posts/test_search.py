import pytest

from posts.forms import SEARCH_QUERY_MAX_CHARS
from posts.models import PostStatus
from tests.factories import PostFactory

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
