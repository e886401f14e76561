from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from posts import admin as posts_admin
from posts import cache_keys, services
from posts.models import Comment, CommentStatus, Post, PostStatus, Revision
from tests.factories import CommentFactory, PostFactory, TagFactory

pytestmark = pytest.mark.django_db

POSTS_URL = "/admin/posts/post/"
COMMENTS_URL = "/admin/posts/comment/"


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


@pytest.fixture
def post(author):
    return services.post_create(
        author=author, data={"title": "Original title", "body": "First body"}, tag_names=["Python"]
    )


def change_url(post: Post) -> str:
    return f"{POSTS_URL}{post.pk}/change/"


def form_data(post: Post, **changes) -> dict:
    """What the change form sends for a post when nothing is edited, with `changes` on top."""
    data = {
        "title": post.title,
        "slug": post.slug,
        "body": post.body,
        "excerpt": post.excerpt,
        "tags": [tag.pk for tag in post.tags.all()],
        "meta_title": post.meta_title,
        "meta_description": post.meta_description,
        "canonical_url": post.canonical_url,
        "cover_image_url": post.cover_image_url,
        "expected_version": post.version,
        "publication": "",
        "publish_at_0": "",
        "publish_at_1": "",
        "_save": "Save",
    }
    return {**data, **changes}


def texts(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def changelist_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(POSTS_URL).status_code == 200
    return len(queries)


def test_changelist_lists_posts_in_a_bounded_number_of_queries(staff_client, author):
    tags = [TagFactory(name="Python"), TagFactory(name="Django")]
    PostFactory.create_batch(3, author=author, tags=tags)
    few = changelist_queries(staff_client)
    PostFactory.create_batch(12, tags=tags)
    many = changelist_queries(staff_client)
    page = staff_client.get(POSTS_URL).content.decode()
    assert many == few
    assert "15 posts" in page
    assert '<td class="field-version">1</td>' in page


def test_changelist_filters_by_status_and_searches_bodies(staff_client, author):
    PostFactory(title="Live one", status=PostStatus.PUBLISHED, author=author)
    PostFactory(title="Hidden one", status=PostStatus.DRAFT, body="a note about caching", author=author)
    drafts = staff_client.get(POSTS_URL, {"status__exact": "draft"}).context["cl"].result_list
    found = staff_client.get(POSTS_URL, {"q": "caching"}).context["cl"].result_list
    assert [post.title for post in drafts] == ["Hidden one"]
    assert [post.title for post in found] == ["Hidden one"]


def test_change_page_shows_the_form_and_newest_revisions_first(staff_client, post, author):
    services.post_update(post=post, by=author, data={"body": "Second body"}, expected_version=1)
    response = staff_client.get(change_url(post))
    page = response.content.decode()
    assert response.status_code == 200
    assert 'name="expected_version" value="2"' in page
    assert page.index("Version 2") < page.index("Version 1")
    restore_v1 = f"/admin/posts/revision/{post.revisions.get(version=1).pk}/restore/"
    assert restore_v1 in page
    assert f"/admin/posts/revision/{post.revisions.get(version=2).pk}/restore/" not in page


def test_add_page_loads_with_the_staff_member_as_author(staff_client, staff):
    response = staff_client.get(f"{POSTS_URL}add/")
    assert response.status_code == 200
    assert response.context["adminform"].form.initial["author"] == staff.pk


def test_adding_a_post_goes_through_the_service(staff_client, author):
    tag = TagFactory(name="Django")
    response = staff_client.post(
        f"{POSTS_URL}add/",
        {"title": "From the admin", "slug": "", "author": author.pk, "body": "Some **bold** text", "tags": [tag.pk]},
    )
    post = Post.objects.get(title="From the admin")
    assert response.status_code == 302
    assert (post.slug, post.author, post.version, post.status) == ("from-the-admin", author, 1, PostStatus.DRAFT)
    assert "<strong>bold</strong>" in post.body_html
    revision = post.revisions.get()
    assert (revision.note, revision.tag_names) == ("created", ["Django"])


def test_adding_a_post_for_someone_who_cannot_write_is_refused(staff_client, reader):
    response = staff_client.post(f"{POSTS_URL}add/", {"title": "Not theirs", "author": reader.pk, "body": "x"})
    assert response.status_code == 200
    assert "reader cannot write posts; give them the Author role first." in response.content.decode()
    assert not Post.objects.exists()


def test_editing_saves_text_and_tags_in_one_new_revision(staff_client, staff, post):
    django = TagFactory(name="Django")
    response = staff_client.post(change_url(post), form_data(post, body="Edited\r\nbody", tags=[django.pk]))
    post.refresh_from_db()
    assert response.status_code == 302
    assert (post.body, post.version) == ("Edited\nbody", 2)
    assert list(post.tags.values_list("name", flat=True)) == ["Django"]
    revision = post.revisions.get(version=2)
    assert (revision.tag_names, revision.created_by, revision.body) == (["Django"], staff, "Edited\nbody")


def test_saving_without_changes_adds_no_revision(staff_client, post):
    assert staff_client.post(change_url(post), form_data(post)).status_code == 302
    assert Post.objects.get(pk=post.pk).version == 1
    assert post.revisions.count() == 1


def test_a_save_on_an_older_version_is_refused_and_keeps_the_text(staff_client, post, editor):
    opened = form_data(post, body="My careful rewrite")
    services.post_update(post=post, by=editor, data={"body": "Editor's fix"}, expected_version=1)
    response = staff_client.post(change_url(post), opened)
    page = response.content.decode()
    assert response.status_code == 200
    assert "This post was saved by someone else (version 2) after you opened it." in page
    assert "My careful rewrite" in page
    assert Post.objects.get(pk=post.pk).body == "Editor's fix"
    # Having seen the newer version, saving again replaces it deliberately.
    assert 'name="expected_version" value="2"' in page
    again = staff_client.post(change_url(post), {**opened, "expected_version": 2})
    assert again.status_code == 302
    assert Post.objects.get(pk=post.pk).body == "My careful rewrite"


def test_a_save_that_loses_a_race_is_shown_again_with_the_text(staff_client, post, editor, monkeypatch):
    """Another save lands after the form validated: the service refuses and nothing is half-saved."""
    post_update = services.post_update

    def racing_update(**kwargs):
        post_update(post=kwargs["post"], by=editor, data={"body": "Landed first"}, expected_version=1)
        return post_update(**kwargs)

    monkeypatch.setattr(posts_admin.services, "post_update", racing_update)
    response = staff_client.post(change_url(post), form_data(post, body="Mine", title="New title"))
    current = Post.objects.get(pk=post.pk)
    assert response.status_code == 200
    assert "after you opened it" in response.content.decode()
    assert "Mine" in response.content.decode()
    assert (current.title, current.body, current.version) == ("Original title", "First body", 1)


def test_a_missing_version_is_refused_with_a_message(staff_client, post):
    response = staff_client.post(change_url(post), form_data(post, expected_version="", body="x"))
    assert response.status_code == 200
    assert posts_admin.LOST_VERSION in response.content.decode()


def test_publishing_from_the_change_form(staff_client, post):
    response = staff_client.post(change_url(post), form_data(post, publication="publish"), follow=True)
    post.refresh_from_db()
    assert post.status == PostStatus.PUBLISHED
    assert "“Original title” is now published." in texts(response)


def test_scheduling_needs_a_future_date(staff_client, post):
    past = timezone.now() - timedelta(days=1)
    refused = staff_client.post(
        change_url(post),
        form_data(post, publication="schedule", publish_at_0=past.strftime("%Y-%m-%d"), publish_at_1="10:00:00"),
    )
    assert "Pick a date and time in the future to schedule the post." in refused.content.decode()
    future = timezone.now() + timedelta(days=3)
    staff_client.post(
        change_url(post),
        form_data(post, publication="schedule", publish_at_0=future.strftime("%Y-%m-%d"), publish_at_1="10:00:00"),
    )
    post.refresh_from_db()
    assert post.status == PostStatus.SCHEDULED
    assert post.published_at.date() == future.date()


def run_action(client, url: str, action: str, objects) -> list[str]:
    response = client.post(url, {"action": action, "_selected_action": [obj.pk for obj in objects]}, follow=True)
    assert response.status_code == 200
    return texts(response)


def test_bulk_publish_reports_changed_and_already_published(staff_client, staff, author):
    drafts = [services.post_create(author=author, data={"title": f"Draft {n}"}) for n in range(2)]
    live = PostFactory(author=author, status=PostStatus.PUBLISHED)
    messages = run_action(staff_client, POSTS_URL, "publish_posts", [*drafts, live])
    assert messages == ["Published 2 posts.", "1 post was already published."]
    draft = Post.objects.get(pk=drafts[0].pk)
    assert draft.status == PostStatus.PUBLISHED
    assert draft.revisions.get(version=2).created_by == staff


def test_bulk_unpublish_and_archive_go_through_the_services(staff_client, author):
    posts = PostFactory.create_batch(2, author=author, status=PostStatus.PUBLISHED)
    assert run_action(staff_client, POSTS_URL, "unpublish_posts", posts[:1]) == ["Unpublished 1 post."]
    assert run_action(staff_client, POSTS_URL, "archive_posts", posts) == ["Archived 2 posts."]
    assert set(Post.objects.values_list("status", flat=True)) == {PostStatus.ARCHIVED}
    assert list(Revision.objects.filter(post=posts[0]).values_list("note", flat=True)) == ["archived", "unpublished"]


def test_bulk_action_names_each_post_it_refused(staff_client, author, monkeypatch):
    ok, refused = (services.post_create(author=author, data={"title": title}) for title in ("Fine", "Blocked"))
    post_publish = services.post_publish

    def publish(*, post, by, at=None):
        if post.title == "Blocked":
            raise services.PostError("Only posts with a body can be published.")
        return post_publish(post=post, by=by, at=at)

    monkeypatch.setattr(posts_admin.services, "post_publish", publish)
    messages = run_action(staff_client, POSTS_URL, "publish_posts", [ok, refused])
    assert messages == ["Published 1 post.", "Not published: “Blocked” (Only posts with a body can be published.)."]


def test_posts_with_revisions_can_be_deleted(staff_client, post):
    response = staff_client.post(f"{POSTS_URL}{post.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Post.objects.exists()
    assert not Revision.objects.exists()


def test_restoring_a_revision_from_the_admin(staff_client, staff, post, author):
    services.post_update(post=post, by=author, data={"title": "Changed", "body": "Worse body"}, expected_version=1)
    first = post.revisions.get(version=1)
    url = f"/admin/posts/revision/{first.pk}/restore/"
    confirm = staff_client.get(url).content.decode()
    assert "Restore version 1 of “Changed”?" in confirm
    assert 'name="expected_version" value="2"' in confirm
    response = staff_client.post(url, {"expected_version": 2}, follow=True)
    post.refresh_from_db()
    assert response.redirect_chain[-1][0] == change_url(post)
    assert (post.title, post.body, post.version) == ("Original title", "First body", 3)
    assert post.revisions.get(version=3).note == "restored version 1"
    assert "Restored version 1 of “Original title” as version 3." in texts(response)


def test_restoring_over_a_newer_save_is_refused(staff_client, post, author, editor):
    services.post_update(post=post, by=author, data={"body": "Second"}, expected_version=1)
    url = f"/admin/posts/revision/{post.revisions.get(version=1).pk}/restore/"
    services.post_update(post=post, by=editor, data={"body": "Third"}, expected_version=2)
    response = staff_client.post(url, {"expected_version": 2})
    page = response.content.decode()
    assert response.status_code == 200
    assert "Not restored: the post was saved again (now version 3)" in page
    assert 'name="expected_version" value="3"' in page
    assert Post.objects.get(pk=post.pk).body == "Third"


def test_revision_admin_is_read_only(staff_client, post):
    revision = post.revisions.get()
    page = staff_client.get(f"/admin/posts/revision/{revision.pk}/change/").content.decode()
    assert "This is the post&#x27;s current version." in page
    assert 'name="_save"' not in page
    assert staff_client.get("/admin/posts/revision/add/").status_code == 403


def test_comment_approve_and_reject_actions(staff_client, author):
    pending = CommentFactory.create_batch(2, status=CommentStatus.PENDING)
    approved = CommentFactory(status=CommentStatus.APPROVED)
    assert run_action(staff_client, COMMENTS_URL, "approve_comments", [*pending, approved]) == [
        "Approved 2 comments.",
        "1 comment was already approved.",
    ]
    assert run_action(staff_client, COMMENTS_URL, "reject_comments", [approved]) == ["Rejected 1 comment."]
    statuses = dict(Comment.objects.values_list("pk", "status"))
    assert statuses == {pending[0].pk: "approved", pending[1].pk: "approved", approved.pk: "rejected"}


def test_comment_change_form_moderates_only(staff_client):
    comment = CommentFactory(status=CommentStatus.PENDING, body="Nice post")
    url = f"{COMMENTS_URL}{comment.pk}/change/"
    assert 'name="body"' not in staff_client.get(url).content.decode()
    staff_client.post(url, {"status": "approved", "body": "Rewritten by staff"})
    comment.refresh_from_db()
    assert (comment.status, comment.body) == ("approved", "Nice post")


def test_tag_list_counts_posts_without_a_query_per_tag(staff_client, author):
    python, django = TagFactory(name="Python"), TagFactory(name="Django")
    PostFactory.create_batch(3, author=author, tags=[python])
    PostFactory(author=author, tags=[python, django])
    with CaptureQueriesContext(connection) as queries:
        response = staff_client.get("/admin/posts/tag/")
    counts = {tag.name: tag.post_count for tag in response.context["cl"].result_list}
    assert counts == {"Django": 1, "Python": 4}
    TagFactory.create_batch(5)
    with CaptureQueriesContext(connection) as more_tags:
        staff_client.get("/admin/posts/tag/")
    assert len(more_tags) == len(queries)


@pytest.mark.parametrize("who", ["reader", "author", "editor"])
def test_people_who_are_not_staff_cannot_reach_the_admin(client, request, who):
    client.force_login(request.getfixturevalue(who))
    for url in ["/admin/", POSTS_URL, f"{POSTS_URL}add/"]:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/")


def test_staff_who_may_edit_only_their_own_posts_see_others_read_only(client, author, other_author, post):
    other_author.is_staff = True
    other_author.save(update_fields=["is_staff"])
    client.force_login(other_author)
    page = client.get(change_url(post)).content.decode()
    assert "Original title" in page
    assert 'name="title"' not in page
    assert 'name="expected_version"' not in page
    assert client.post(change_url(post), form_data(post, body="Not mine to change")).status_code == 403
    assert Post.objects.get(pk=post.pk).body == "First body"


def test_tag_autocomplete_finds_tags_by_name(staff_client):
    for name in ["Python", "PyPy", "Django"]:
        TagFactory(name=name)
    response = staff_client.get(
        "/admin/autocomplete/", {"app_label": "posts", "model_name": "post", "field_name": "tags", "term": "py"}
    )
    assert [result["text"] for result in response.json()["results"]] == ["PyPy", "Python"]


def test_renaming_a_tag_in_the_admin_refreshes_the_pages_of_its_posts(
    staff_client, editor, post, django_capture_on_commit_callbacks
):
    services.post_publish(post=post, by=editor)
    tag, dep = post.tags.get(), cache_keys.post_dep(post.slug)
    before = cache_keys.versions_get([dep])
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(f"/admin/posts/tag/{tag.pk}/change/", {"name": "CPython", "slug": tag.slug})
    assert response.status_code == 302
    assert list(post.tags.values_list("name", flat=True)) == ["CPython"]
    assert cache_keys.versions_get([dep]) != before


def test_deleting_an_approved_comment_in_the_admin_refreshes_its_post_page(
    staff_client, django_capture_on_commit_callbacks
):
    comment = CommentFactory(status=CommentStatus.APPROVED)
    dep = cache_keys.post_dep(comment.post.slug)
    before = cache_keys.versions_get([dep])
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(f"{COMMENTS_URL}{comment.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302 and not Comment.objects.exists()
    assert cache_keys.versions_get([dep]) != before


def test_a_new_name_in_the_user_admin_refreshes_the_authors_page(
    staff_client, author, django_capture_on_commit_callbacks
):
    dep = cache_keys.author_dep(author.username)
    before = cache_keys.versions_get([dep])
    data = {"username": author.username, "email": author.email, "display_name": "Renamed", "is_active": "on"}
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(f"/admin/accounts/user/{author.pk}/change/", data)
    assert response.status_code == 302
    assert cache_keys.versions_get([dep]) != before
