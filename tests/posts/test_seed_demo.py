import re
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from accounts.models import User
from posts.models import Comment, CommentStatus, Post, PostStatus

pytestmark = pytest.mark.django_db


def seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def printed_accounts(output: str) -> dict[str, tuple[str, str]]:
    """username -> (role, password) from the table the command prints."""
    lines = output.split("Demo accounts", 1)[1].splitlines()
    start = next(n for n, line in enumerate(lines) if line.strip().startswith("---")) + 1
    table = lines[start : lines.index("", start)]
    rows = [re.split(r"\s{2,}", line.strip()) for line in table]
    return {username: (role, password) for username, role, password in rows}


def test_creates_an_account_for_each_role_with_the_printed_passwords():
    accounts = printed_accounts(seed("--posts", "3"))
    roles = {role for role, _ in accounts.values()}
    assert {"Reader", "Author", "Editor", "Staff (superuser)"} <= roles
    for username, (role, password) in accounts.items():
        user = User.objects.get(username=username)
        assert user.check_password(password)
        assert user.groups.filter(name=role.split()[0]).exists()
    admin = User.objects.get(username="admin")
    assert admin.is_superuser and admin.is_staff


def test_writes_posts_with_revisions_comments_and_a_mix_of_statuses():
    output = seed("--posts", "24")
    posts = list(Post.objects.all())
    now = timezone.now()
    statuses = {post.status for post in posts}
    assert len(posts) == 24
    assert statuses == set(PostStatus.values)
    assert all(post.revisions.count() >= 2 for post in posts)
    assert all(post.published_at < now for post in posts if post.status == PostStatus.PUBLISHED)
    assert all(post.published_at > now for post in posts if post.status == PostStatus.SCHEDULED)
    assert any('<pre class="highlight" tabindex="0"' in post.body_html for post in posts)
    assert all("<h2>" in post.body_html and post.tags.exists() for post in posts)
    comment_statuses = set(Comment.objects.values_list("status", flat=True))
    assert {CommentStatus.APPROVED, CommentStatus.PENDING} <= comment_statuses
    assert not Comment.objects.exclude(post__status=PostStatus.PUBLISHED).exists()
    assert "Wrote 24 posts" in output


def test_if_empty_does_nothing_the_second_time():
    first = printed_accounts(seed("--if-empty", "--posts", "4"))
    output = seed("--if-empty", "--posts", "4")
    assert Post.objects.count() == 4
    assert output.strip() == "The site already has posts; no demo content added."
    assert User.objects.get(username="editor").check_password(first["editor"][1])


def test_content_is_the_same_each_time_but_passwords_are_new():
    first_passwords = printed_accounts(seed("--posts", "5"))
    first = list(Post.objects.order_by("pk").values_list("title", "body", "status"))
    Post.objects.all().delete()
    User.objects.all().delete()
    second_passwords = printed_accounts(seed("--posts", "5"))
    assert list(Post.objects.order_by("pk").values_list("title", "body", "status")) == first
    assert first_passwords["admin"][1] != second_passwords["admin"][1]


def test_existing_accounts_keep_their_passwords():
    seed("--posts", "0")
    before = User.objects.get(username="alice").password
    accounts = printed_accounts(seed("--posts", "1"))
    assert accounts["alice"][1] == "(existing account, unchanged)"
    assert User.objects.get(username="alice").password == before


@pytest.mark.parametrize("value", ["-1", "lots"])
def test_a_bad_post_count_is_refused_with_a_message(value):
    with pytest.raises(CommandError, match="argument --posts"):
        seed("--posts", value)
    assert not Post.objects.exists()


def test_posts_were_last_changed_at_plausible_times_not_when_the_demo_was_written():
    """A sitemap's lastmod, a feed's <updated> and a page's dateModified come from updated_at."""
    started = timezone.now()
    seed("--posts", "30")
    finished = timezone.now()
    posts = list(Post.objects.all())
    went_out = [post for post in posts if post.status in (PostStatus.PUBLISHED, PostStatus.ARCHIVED)]
    assert len(went_out) >= 20
    for post in went_out:
        assert post.published_at < post.updated_at <= finished
        assert post.updated_at - post.published_at <= timedelta(days=14)
    # Only a post published in the last fortnight may have been changed as late as now.
    long_ago = [post for post in went_out if post.published_at < started - timedelta(days=14)]
    assert long_ago and all(post.updated_at < started for post in long_ago)
    assert len({post.updated_at for post in went_out}) == len(went_out)
    for post in posts:
        if post.status in (PostStatus.DRAFT, PostStatus.REVIEW):
            assert post.updated_at == post.revisions.order_by("-version").first().created_at


def test_the_sitemap_shows_when_each_post_was_last_changed(client):
    started = timezone.now()
    seed("--posts", "12")
    lastmods = re.findall(r"<lastmod>([^<]+)</lastmod>", client.get("/sitemap.xml").content.decode())
    published = Post.objects.published()
    assert len(lastmods) >= published.count() > 5
    assert {post.updated_at.date().isoformat() for post in published} <= set(lastmods)
    assert sum(lastmod == started.date().isoformat() for lastmod in lastmods) < len(lastmods) / 2
