"""Saving over a newer version, and the revision history with restore."""

import pytest
from django.test import Client
from django.urls import reverse

from posts import services
from posts.models import Post


@pytest.fixture
def draft(author):
    return services.post_create(author=author, data={"title": "Shared", "body": "Original"})


def save(client: Client, post: Post, *, version: int, **fields):
    data = {"title": post.title, "body": post.body, "version": version, **fields}
    return client.post(reverse("editor:post_edit", args=[post.pk]), data)


def test_saving_over_a_newer_version_is_refused_and_shows_both(author, editor, draft, client_for):
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


def test_keep_mine_saves_on_top_of_the_newer_version(author, editor, draft, client_for):
    services.post_update(post=draft, by=editor, data={"body": "Theirs"}, expected_version=1)
    response = save(client_for(author), draft, version=1, body="Mine", keep_mine_over=2)
    assert response.status_code == 302
    draft.refresh_from_db()
    assert (draft.body, draft.version) == ("Mine", 3)
    assert list(draft.revisions.values_list("body", flat=True)) == ["Mine", "Theirs", "Original"]


def test_keep_mine_is_refused_again_when_a_third_save_came_in_between(author, editor, draft, client_for):
    services.post_update(post=draft, by=editor, data={"body": "Theirs"}, expected_version=1)
    services.post_update(post=draft, by=editor, data={"body": "Theirs again"}, expected_version=2)
    response = save(client_for(author), draft, version=1, body="Mine", keep_mine_over=2)
    assert response.status_code == 409
    assert 'name="keep_mine_over" value="3"' in response.content.decode()


def test_unchanged_form_on_an_old_version_is_not_a_conflict(author, editor, draft, client_for):
    services.post_update(post=draft, by=editor, data={"title": "Shared"}, expected_version=1)
    response = save(client_for(author), draft, version=1)
    assert response.status_code == 302


def test_edit_page_lists_recent_revisions(author, draft, client_for):
    services.post_update(post=draft, by=author, data={"body": "Two"}, expected_version=1)
    page = client_for(author).get(reverse("editor:post_edit", args=[draft.pk])).content.decode()
    assert f'href="/editor/posts/{draft.pk}/revisions/2/">v2</a>' in page
    assert f'href="/editor/posts/{draft.pk}/revisions/1/">v1</a>' in page
    assert "created" in page and "saved" in page


def test_revision_list_and_detail(author, draft, client_for):
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


def test_restore_makes_a_new_version_and_loses_nothing(author, draft, client_for):
    services.post_update(post=draft, by=author, data={"body": "Two"}, expected_version=1)
    client = client_for(author)
    response = client.post(reverse("editor:revision_restore", args=[draft.pk, 1]), {"version": 2})
    draft.refresh_from_db()
    assert response.url == reverse("editor:post_edit", args=[draft.pk])
    assert (draft.body, draft.version) == ("Original", 3)
    assert list(draft.revisions.values_list("version", "body")) == [(3, "Original"), (2, "Two"), (1, "Original")]
    assert "Restored version 1 as the new version 3." in client.get(response.url).content.decode()


def test_restore_from_a_stale_page_is_refused(author, editor, draft, client_for):
    services.post_update(post=draft, by=editor, data={"body": "Two"}, expected_version=1)
    client = client_for(author)
    response = client.post(reverse("editor:revision_restore", args=[draft.pk, 1]), {"version": 1}, follow=True)
    assert "it is now at version 2" in response.content.decode()
    draft.refresh_from_db()
    assert (draft.body, draft.version) == ("Two", 2)


def test_restore_needs_post(author, draft, client_for):
    response = client_for(author).get(reverse("editor:revision_restore", args=[draft.pk, 1]))
    assert response.status_code == 405


# An author's own saves from the same editor page (one browser tab, named by its editing session)


TAB = "tab-5f0c2a9e41"
OTHER_TAB = "tab-77d1b3c0aa"


def autosave(client: Client, **payload):
    return client.post(reverse("editor:autosave"), data=payload, content_type="application/json")


def test_a_reloaded_page_never_conflicts_with_its_own_autosave(author, draft, client_for):
    client = client_for(author)
    # The autosave sent as the page reloaded lands after the reloaded page was read at version 1.
    autosave(client, post_id=draft.pk, version=1, editing_session=TAB, body="Original, typed on")
    # The reloaded page restores the text kept in the browser, based on version 1, and saves it.
    response = autosave(client, post_id=draft.pk, version=1, editing_session=TAB, body="Original, typed on and on")
    assert response.status_code == 200
    assert response.json()["version"] == 3
    draft.refresh_from_db()
    assert (draft.body, draft.version) == ("Original, typed on and on", 3)
    # The version it was saved over keeps its revision: nothing typed is lost.
    assert list(draft.revisions.values_list("version", "body")) == [
        (3, "Original, typed on and on"),
        (2, "Original, typed on"),
        (1, "Original"),
    ]


def test_text_already_saved_is_not_a_conflict_and_answers_the_current_version(author, editor, draft, client_for):
    services.post_update(post=draft, by=editor, data={"body": "Same words"}, expected_version=1)
    response = autosave(client_for(author), post_id=draft.pk, version=1, editing_session=TAB, body="Same words")
    assert response.status_code == 200
    assert response.json()["version"] == 2
    assert draft.revisions.count() == 2


def test_the_same_author_in_another_tab_still_conflicts(author, draft, client_for):
    client = client_for(author)
    autosave(client, post_id=draft.pk, version=1, editing_session=OTHER_TAB, body="Typed in the other tab")
    response = autosave(client, post_id=draft.pk, version=1, editing_session=TAB, body="Typed in this tab")
    assert response.status_code == 409
    assert response.json()["current"]["body"] == "Typed in the other tab"
    draft.refresh_from_db()
    assert draft.body == "Typed in the other tab"


def test_a_save_by_someone_else_after_the_pages_own_is_a_conflict(author, editor, draft, client_for):
    client = client_for(author)
    autosave(client, post_id=draft.pk, version=1, editing_session=TAB, body="Mine")
    services.post_update(post=draft, by=editor, data={"body": "The editor's"}, expected_version=2)
    response = autosave(client, post_id=draft.pk, version=1, editing_session=TAB, body="Mine, typed on")
    assert response.status_code == 409
    assert response.json()["current"]["saved_by"] == "Editor"
    draft.refresh_from_db()
    assert draft.body == "The editor's"


def test_an_editing_session_someone_else_used_gives_no_way_around_a_conflict(author, editor, draft, client_for):
    autosave(client_for(editor), post_id=draft.pk, version=1, editing_session=TAB, body="The editor's")
    response = autosave(client_for(author), post_id=draft.pk, version=1, editing_session=TAB, body="Mine")
    assert response.status_code == 409


def test_autosaves_without_an_editing_session_keep_the_version_check(author, draft, client_for):
    client = client_for(author)
    autosave(client, post_id=draft.pk, version=1, body="First")
    assert autosave(client, post_id=draft.pk, version=1, body="Second").status_code == 409


def test_autosaves_from_two_tabs_keep_separate_revisions(author, draft, client_for):
    client = client_for(author)
    autosave(client, post_id=draft.pk, version=1, editing_session=OTHER_TAB, body="Other tab")
    autosave(client, post_id=draft.pk, version=2, editing_session=TAB, body="This tab")
    assert list(draft.revisions.values_list("body", "editing_session")) == [
        ("This tab", TAB),
        ("Other tab", OTHER_TAB),
        ("Original", ""),
    ]


def test_a_new_posts_page_reloaded_before_its_first_autosave_answered_makes_one_post(author, client_for):
    client = client_for(author)
    first = autosave(client, post_id=None, version=0, editing_session=TAB, title="Fresh", body="Typed")
    again = autosave(client, post_id=None, version=0, editing_session=TAB, title="Fresh", body="Typed on")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json()["post_id"] == first.json()["post_id"]
    post = Post.objects.get()
    assert (post.body, post.version) == ("Typed on", 2)
    other = autosave(client, post_id=None, version=0, editing_session=OTHER_TAB, title="Another", body="x")
    assert other.json()["post_id"] != post.pk
    assert Post.objects.count() == 2


def test_a_save_from_the_form_records_its_editing_session(author, draft, client_for):
    response = save(client_for(author), draft, version=1, body="Saved by hand", editing_session=TAB)
    assert response.status_code == 302
    assert draft.revisions.first().editing_session == TAB


def test_an_editing_session_that_is_not_an_id_is_refused(author, draft, client_for):
    response = autosave(client_for(author), post_id=draft.pk, version=1, editing_session="<x>", body="Hi")
    assert response.status_code == 400
    assert response.json()["errors"]["editing_session"] == ["The page's editing session is not valid; reload the page."]


def test_save_pressed_on_a_reloaded_page_builds_on_its_own_autosave(author, draft, client_for):
    client = client_for(author)
    autosave(client, post_id=draft.pk, version=1, editing_session=TAB, body="Autosaved as the page reloaded")
    response = save(client, draft, version=1, body="Autosaved as the page reloaded, and more", editing_session=TAB)
    assert response.status_code == 302
    draft.refresh_from_db()
    assert (draft.body, draft.version) == ("Autosaved as the page reloaded, and more", 3)


def test_save_pressed_over_another_tabs_autosave_is_still_a_conflict(author, draft, client_for):
    client = client_for(author)
    autosave(client, post_id=draft.pk, version=1, editing_session=OTHER_TAB, body="From the other tab")
    response = save(client, draft, version=1, body="From this tab", editing_session=TAB)
    assert response.status_code == 409
