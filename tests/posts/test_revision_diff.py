"""Comparing versions of a post: two revisions, or a revision and the current text."""

import pytest
from django.test import Client
from django.urls import reverse

from posts import revision_diff, services
from posts.revision_diff import Segment


@pytest.fixture
def post(author):
    post = services.post_create(
        author=author,
        data={"title": "Winter birds", "body": "Robins sing.\nWrens hide.\nTits feed."},
        tag_names=["Birds"],
    )
    services.post_update(
        post=post,
        by=author,
        data={"title": "Winter birds of Europe", "body": "Robins sing.\nWrens hide in hedges.\nTits feed."},
        expected_version=1,
    )
    services.post_update(post=post, by=author, data={"excerpt": "A short guide."}, expected_version=2)
    return post


def compare_page(client: Client, post, **params) -> str:
    response = client.get(reverse("editor:revision_compare", args=[post.pk]), params)
    assert response.status_code == 200
    return response.content.decode()


def test_word_segments_mark_what_was_added_and_removed():
    assert revision_diff.word_segments("The quick fox", "The slow fox jumps") == [
        Segment("equal", "The "),
        Segment("delete", "quick"),
        Segment("insert", "slow"),
        Segment("equal", " fox"),
        Segment("insert", " jumps"),
    ]


def test_line_rows_number_lines_and_fold_long_unchanged_stretches():
    old = "\n".join(f"line {n}" for n in range(1, 21))
    new = old.replace("line 10", "line ten")
    rows = revision_diff.line_rows(old, new)
    changed = [(row.kind, row.text, row.old_number, row.new_number) for row in rows if row.kind != "equal"]
    assert changed == [("delete", "line 10", 10, None), ("insert", "line ten", None, 10)]
    folded = [row.folded for row in rows if row.folded]
    assert folded == [6, 7]  # lines 1-6 and 14-20; three lines of context on each side
    assert [row.text for row in rows if row.kind == "equal" and not row.folded][:3] == ["line 7", "line 8", "line 9"]


def test_two_revisions_compared_line_by_line(author, post, client_for):
    page = compare_page(client_for(author), post, old=1, new=2)
    assert '<del><span class="visually-hidden">Removed: </span>Wrens hide.</del>' in page
    assert '<ins><span class="visually-hidden">Added: </span>Wrens hide in hedges.</ins>' in page
    assert "Winter birds<ins> of Europe</ins>" in page  # the title, word by word
    assert "Excerpt" not in page.split('id="diff-unchanged-heading"')[0]
    assert "Cover image URL" in page.split('id="diff-unchanged-heading"')[1]


def test_word_mode_shows_the_body_word_by_word(author, post, client_for):
    page = compare_page(client_for(author), post, old=1, new=2, mode="word")
    assert "Wrens hide<ins> in hedges</ins>." in page


def test_a_revision_against_the_current_text(author, post, client_for):
    services.post_update(post=post, by=author, data={"body": "Robins sing.\nWrens hide in hedges."}, expected_version=3)
    page = compare_page(client_for(author), post, old=2, new="current")
    assert "the current text (version 4)" in page
    assert "A short guide." in page  # the excerpt was added since version 2
    assert '<del><span class="visually-hidden">Removed: </span>Tits feed.</del>' in page


def test_the_text_is_escaped(author, client_for):
    post = services.post_create(author=author, data={"title": "T", "body": "safe"})
    services.post_update(post=post, by=author, data={"body": "<script>alert(1)</script>"}, expected_version=1)
    page = compare_page(client_for(author), post, old=1, new=2)
    assert "<script>alert(1)" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_defaults_compare_the_version_before_with_the_current_text(author, post, client_for):
    page = compare_page(client_for(author), post)
    assert 'value="2" selected' in page and 'value="current" selected' in page


def test_revision_list_and_detail_link_to_comparisons(author, post, client_for):
    client = client_for(author)
    listing = client.get(reverse("editor:revisions", args=[post.pk])).content.decode()
    compare = reverse("editor:revision_compare", args=[post.pk])
    assert f'href="{compare}?old=1&amp;new=current"' in listing
    assert f'href="{compare}?old=2&amp;new=3">with version 2</a>' in listing
    detail = client.get(reverse("editor:revision", args=[post.pk, 1])).content.decode()
    assert f'href="{compare}?old=1&amp;new=current">Compare with the current text</a>' in detail


def test_unknown_versions_are_404_and_bad_input_goes_back_to_the_list(author, post, client_for):
    client = client_for(author)
    url = reverse("editor:revision_compare", args=[post.pk])
    assert client.get(url, {"old": 99, "new": "current"}).status_code == 404
    response = client.get(url, {"old": "<x>"})
    assert response.status_code == 302 and response.url == reverse("editor:revisions", args=[post.pk])


def test_other_authors_cannot_compare_someone_elses_post(other_author, post, client_for):
    response = client_for(other_author).get(reverse("editor:revision_compare", args=[post.pk]))
    assert response.status_code == 404
