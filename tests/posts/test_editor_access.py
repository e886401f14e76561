"""Who reaches the editor: login redirect, 403 for readers, 404 for other authors' posts, CSRF."""

import pytest
from django.test import Client
from django.urls import reverse

from posts import services
from tests.factories import PostFactory


@pytest.fixture
def draft(author):
    return services.post_create(author=author, data={"title": "Mine", "body": "text"})


@pytest.mark.parametrize(
    "url",
    ["/editor/", "/editor/posts/new/", "/editor/posts/1/edit/", "/editor/posts/1/revisions/"],
)
def test_anonymous_visitors_are_sent_to_the_login_page(client, db, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response.url == f"{reverse('accounts:login')}?next={url}"


@pytest.mark.parametrize("url", ["/editor/", "/editor/posts/new/"])
def test_readers_are_refused(reader, url, client_for):
    assert client_for(reader).get(url).status_code == 403


def test_readers_cannot_autosave_or_preview(reader, client_for):
    client = client_for(reader)
    for url in (reverse("editor:autosave"), reverse("editor:preview")):
        response = client.post(url, data={"body": "x"}, content_type="application/json")
        assert response.status_code == 403
        assert response.json()["error"] == "You are not allowed to write posts."


def test_signed_out_autosave_answers_in_json_so_the_page_can_keep_the_text(client, db):
    response = client.post(reverse("editor:autosave"), data={"title": "x"}, content_type="application/json")
    assert response.status_code == 401
    assert "kept in this browser" in response.json()["error"]


def test_author_opens_own_post(author, draft, client_for):
    response = client_for(author).get(reverse("editor:post_edit", args=[draft.pk]))
    assert response.status_code == 200
    assert 'value="Mine"' in response.content.decode()


def test_author_gets_404_for_another_authors_post(other_author, draft, client_for):
    client = client_for(other_author)
    assert client.get(reverse("editor:post_edit", args=[draft.pk])).status_code == 404
    assert client.get(reverse("editor:revisions", args=[draft.pk])).status_code == 404
    response = client.post(
        reverse("editor:autosave"),
        data={"post_id": draft.pk, "version": 1, "title": "Taken"},
        content_type="application/json",
    )
    assert response.status_code == 404
    draft.refresh_from_db()
    assert draft.title == "Mine"


def test_author_sees_only_own_posts_on_the_dashboard(author, other_author, client_for):
    PostFactory(author=author, title="Author's post")
    PostFactory(author=other_author, title="Someone else's post")
    page = client_for(author).get("/editor/").content.decode()
    assert "Author&#x27;s post" in page
    assert "Someone else" not in page
    assert "Review queue" not in page


def test_editor_sees_every_post_and_the_review_queue(editor, author, other_author, client_for):
    PostFactory(author=author, title="First")
    waiting = services.post_create(author=other_author, data={"title": "Waiting"})
    services.post_submit_for_review(post=waiting, by=other_author)
    page = client_for(editor).get("/editor/").content.decode()
    assert "First" in page and "Waiting" in page
    assert 'Review queue <span class="count">1</span>' in page


def test_editor_filters_posts_by_status(editor, author, client_for):
    PostFactory(author=author, title="Live one")
    services.post_create(author=author, data={"title": "Unfinished"})
    page = client_for(editor).get("/editor/", {"status": "draft"}).content.decode()
    table = page.split('class="post-table"')[1]
    assert "Unfinished" in table
    assert "Live one" not in table


def test_editor_opens_any_post(editor, draft, client_for):
    assert client_for(editor).get(reverse("editor:post_edit", args=[draft.pk])).status_code == 200


def test_forms_and_json_endpoints_require_the_csrf_token(author, draft):
    client = Client(enforce_csrf_checks=True)
    client.force_login(author)
    edit = client.post(reverse("editor:post_edit", args=[draft.pk]), {"title": "Changed", "version": 1})
    autosave = client.post(
        reverse("editor:autosave"),
        data={"post_id": draft.pk, "version": 1, "title": "Changed"},
        content_type="application/json",
    )
    preview = client.post(reverse("editor:preview"), data={"body": "x"}, content_type="application/json")
    restore = client.post(reverse("editor:revision_restore", args=[draft.pk, 1]), {"version": 1})
    assert [r.status_code for r in (edit, autosave, preview, restore)] == [403, 403, 403, 403]
    draft.refresh_from_db()
    assert (draft.title, draft.version) == ("Mine", 1)


def test_json_endpoints_accept_the_csrf_header(author, draft):
    client = Client(enforce_csrf_checks=True)
    client.force_login(author)
    page = client.get(reverse("editor:post_edit", args=[draft.pk]))
    token = page.context["csrf_token"]
    response = client.post(
        reverse("editor:autosave"),
        data={"post_id": draft.pk, "version": 1, "title": "Changed"},
        content_type="application/json",
        headers={"X-CSRFToken": str(token)},
    )
    assert response.status_code == 200
    assert response.json()["version"] == 2


def test_a_signed_in_reader_gets_a_page_that_explains_the_refusal(reader, client_for):
    response = client_for(reader).get("/editor/")
    page = response.content.decode()
    assert response.status_code == 403
    assert "<title>Not allowed" in page
    assert 'rel="stylesheet"' in page  # the site's own page, styled like the rest
    assert "You are signed in as Reader, and your account does not have access to this page." in page
    assert "The editor is for the site's authors and editors" in page
    assert '<a href="/">Read the latest posts</a>' in page
    assert f'href="{reverse("accounts:login")}?next=/editor/"' in page


def test_a_refusal_with_a_reason_says_it(author, draft, client_for):
    response = client_for(author).get("/editor/comments/")
    assert response.status_code == 403
    assert "You cannot open this page" in response.content.decode()


def test_the_favicon_is_served_and_linked(client, db):
    from django.contrib.staticfiles import finders

    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response.url == "/static/favicon.ico"
    with open(finders.find("favicon.ico"), "rb") as icon:
        assert icon.read(4) == b"\x00\x00\x01\x00"  # the ICO format's header
    assert finders.find("favicon.svg")
    page = client.get("/").content.decode()
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in page
