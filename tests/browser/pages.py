"""The project's own pages, each as one kind of visitor sees it, for the page-wide checks (the Nu
HTML Checker, axe-core). Feeds, the sitemap and robots.txt are not HTML; /admin/ is Django's."""

from dataclasses import dataclass


@dataclass(frozen=True)
class SitePage:
    name: str
    path: str
    user: str | None = None  # a demo account (posts/management/commands/seed_demo.py), or a visitor
    status: int = 200


def reader_pages(facts: dict) -> list[SitePage]:
    post, tag, author = f"/posts/{facts['post_slug']}/", f"/tags/{facts['tag_slug']}/", f"/authors/{facts['author']}/"
    return [
        SitePage("index", "/"),
        SitePage("index, page 2", "/?page=2"),
        SitePage("post", post),
        SitePage("post, signed in", post, user="reader"),
        SitePage("post, as its editor", post, user="editor"),
        SitePage("post with a library image", f"/posts/{facts['image_post_slug']}/"),
        SitePage("tag", tag),
        SitePage("author", author),
        SitePage("search", "/search/?q=python"),
        SitePage("search, no query", "/search/"),
        SitePage("search, no match", "/search/?q=zzzqqqxxx"),
    ]


def account_pages(facts: dict) -> list[SitePage]:
    return [
        SitePage("sign in", "/accounts/login/"),
        SitePage("sign up", "/accounts/signup/"),
        SitePage("password reset", "/accounts/password/reset/"),
        SitePage("password reset sent", "/accounts/password/reset/sent/"),
        SitePage("password reset, stale link", "/accounts/reset/MQ/set-password/"),
        SitePage("password reset complete", "/accounts/reset/done/"),
        SitePage("profile", "/accounts/profile/", user="reader"),
        SitePage("password change", "/accounts/password/change/", user="reader"),
        SitePage("password change done", "/accounts/password/change/done/", user="reader"),
    ]


def editor_pages(facts: dict) -> list[SitePage]:
    post, draft = facts["post_pk"], facts["draft_pk"]
    return [
        SitePage("author's dashboard", "/editor/", user=facts["draft_author"]),
        SitePage("editor's dashboard", "/editor/", user="editor"),
        SitePage("new post", "/editor/posts/new/", user=facts["draft_author"]),
        SitePage("post editor, a draft", f"/editor/posts/{draft}/edit/", user=facts["draft_author"]),
        SitePage("post editor, published", f"/editor/posts/{post}/edit/", user="editor"),
        SitePage("revisions", f"/editor/posts/{post}/revisions/", user="editor"),
        SitePage("revision", f"/editor/posts/{post}/revisions/1/", user="editor"),
        SitePage("revision comparison", f"/editor/posts/{post}/revisions/compare/?old=1&new=current", user="editor"),
        SitePage(
            "revision comparison, word by word",
            f"/editor/posts/{post}/revisions/compare/?old=1&new=2&mode=word",
            user="editor",
        ),
        SitePage("comment moderation", "/editor/comments/", user="editor"),
        SitePage("comment moderation, approved", "/editor/comments/?status=approved", user="editor"),
        SitePage("media library", "/editor/media/", user=facts["draft_author"]),
        SitePage("media library, an image", f"/editor/media/{facts['image_pk']}/", user="alice"),
        SitePage("media library, deleting an image", f"/editor/media/{facts['image_pk']}/delete/", user="alice"),
    ]


def error_pages(facts: dict) -> list[SitePage]:
    return [
        SitePage("not found", "/posts/no-such-post/", status=404),
        SitePage("forbidden", "/editor/", user="reader", status=403),
    ]


def all_pages(facts: dict) -> list[SitePage]:
    return reader_pages(facts) + account_pages(facts) + editor_pages(facts) + error_pages(facts)
