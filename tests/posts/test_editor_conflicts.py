"""Saving over a newer version, and the revision history with restore."""

import pytest
from django.test import Client
from django.urls import reverse

from posts import services
from posts.models import Post


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def draft(author):
    return services.post_create(author=author, data={"title": "Shared", "body": "Original"})


def save(client: Client, post: Post, *, version: int, **fields):
    data = {"title": post.title, "body": post.body, "version": version, **fields}
    return client.post(reverse("editor:post_edit", args=[post.pk]), data)


def test_saving_over_a_newer_version_is_refused_and_shows_both(author, editor, draft):
    services.post_update(post=draft, by=editor, data={"body": "Editor's newer text"}, expected_version=1)
    response = save(client_for(author), draft, version=1, body="My stale but precious text")
    page = response.content.decode()
    assert response.status_code == 409
    assert "This post was saved by someone else (version 2) after you opened it." in page
    comparison = page.split('class="conflict"')[1].split("</section>")[0]
    assert "My stale but precious text" in comparison
    assert "My stale but precious text</textarea>" in page
    assert "Editor&#x27;s newer text" in comparison
    assert "Saved by Editor on" in comparison
    assert 'name="keep_mine_over" value="2"' in page
    assert 'name="version" value="1"' in page  # a plain Save again is still checked
    draft.refresh_from_db()
    assert (draft.body, draft.version) == ("Editor's newer text", 2)


def test_keep_mine_saves_on_top_of_the_newer_version(author, editor, draft):
    services.post_update(post=draft, by=editor, data={"body": "Theirs"}, expected_version=1)
    response = save(client_for(author), draft, version=1, body="Mine", keep_mine_over=2)
    assert response.status_code == 302
    draft.refresh_from_db()
    assert (draft.body, draft.version) == ("Mine", 3)
    assert list(draft.revisions.values_list("body", flat=True)) == ["Mine", "Theirs", "Original"]


def test_keep_mine_is_refused_again_when_a_third_save_came_in_between(author, editor, draft):
    services.post_update(post=draft, by=editor, data={"body": "Theirs"}, expected_version=1)
    services.post_update(post=draft, by=editor, data={"body": "Theirs again"}, expected_version=2)
    response = save(client_for(author), draft, version=1, body="Mine", keep_mine_over=2)
    assert response.status_code == 409
    assert 'name="keep_mine_over" value="3"' in response.content.decode()


def test_unchanged_form_on_an_old_version_is_not_a_conflict(author, editor, draft):
    services.post_update(post=draft, by=editor, data={"title": "Shared"}, expected_version=1)
    response = save(client_for(author), draft, version=1)
    assert response.status_code == 302


def test_edit_page_lists_recent_revisions(author, draft):
    services.post_update(post=draft, by=author, data={"body": "Two"}, expected_version=1)
    page = client_for(author).get(reverse("editor:post_edit", args=[draft.pk])).content.decode()
    assert f'href="/editor/posts/{draft.pk}/revisions/2/">v2</a>' in page
    assert f'href="/editor/posts/{draft.pk}/revisions/1/">v1</a>' in page
    assert "created" in page and "saved" in page


def test_revision_list_and_detail(author, draft):
    services.post_update(post=draft, by=author, data={"body": "Two <script>alert(1)</script>"}, expected_version=1)
    client = client_for(author)
    listing = client.get(reverse("editor:revisions", args=[draft.pk])).content.decode()
    assert "v2</a> <span" in listing and "v1</a>" in listing
    detail = client.get(reverse("editor:revision", args=[draft.pk, 2])).content.decode()
    assert "This is the current version of the post." in detail
    assert "<script>alert(1)" not in detail
    older = client.get(reverse("editor:revision", args=[draft.pk, 1])).content.decode()
    assert "Restore this version" in older and "<p>Original</p>" in older
    assert client.get(reverse("editor:revision", args=[draft.pk, 9])).status_code == 404


def test_restore_makes_a_new_version_and_loses_nothing(author, draft):
    services.post_update(post=draft, by=author, data={"body": "Two"}, expected_version=1)
    client = client_for(author)
    response = client.post(reverse("editor:revision_restore", args=[draft.pk, 1]), {"version": 2})
    draft.refresh_from_db()
    assert response.url == reverse("editor:post_edit", args=[draft.pk])
    assert (draft.body, draft.version) == ("Original", 3)
    assert list(draft.revisions.values_list("version", "body")) == [(3, "Original"), (2, "Two"), (1, "Original")]
    assert "Restored version 1 as the new version 3." in client.get(response.url).content.decode()


def test_restore_from_a_stale_page_is_refused(author, editor, draft):
    services.post_update(post=draft, by=editor, data={"body": "Two"}, expected_version=1)
    client = client_for(author)
    response = client.post(reverse("editor:revision_restore", args=[draft.pk, 1]), {"version": 1}, follow=True)
    assert "it is now at version 2" in response.content.decode()
    draft.refresh_from_db()
    assert (draft.body, draft.version) == ("Two", 2)


def test_restore_needs_post(author, draft):
    response = client_for(author).get(reverse("editor:revision_restore", args=[draft.pk, 1]))
    assert response.status_code == 405
