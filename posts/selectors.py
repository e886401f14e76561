"""Reads of posts, tags and comments, shaped for the pages that show them."""

from dataclasses import dataclass, replace

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Count, Exists, F, Func, OuterRef, Q, QuerySet, Value
from django.shortcuts import get_object_or_404

from . import cache_keys
from .models import Comment, CommentStatus, Post, PostStatus, Revision, Tag


def post_list_published(*, tag: Tag | None = None, author=None) -> QuerySet[Post]:
    posts = Post.objects.published().with_listing_relations()
    if tag is not None:
        posts = posts.filter(tags=tag)
    if author is not None:
        posts = posts.filter(author=author)
    return posts.order_by("-published_at", "-pk")


def post_get_published(*, slug: str) -> Post:
    return get_object_or_404(Post.objects.published().with_listing_relations(), slug=slug)


# What the post page shows of a post and of the people in it: the Markdown source and
# account details (password hash, email) stay out of the cached copy.
_POST_PAGE_FIELDS = (
    "title",
    "slug",
    "body_html",
    "excerpt",
    "cover_image_url",
    "published_at",
    "updated_at",
    "meta_title",
    "meta_description",
    "canonical_url",
    "author__username",
    "author__display_name",
)
_COMMENT_PAGE_FIELDS = ("post", "body_html", "created_at", "author__username", "author__display_name")


@dataclass(frozen=True)
class PostPage:
    """A public post with its author and tags, and its approved comments with their authors.

    `version` is the post's version these were read under (None when it does not exist yet):
    the post page's template fragments are cached under it.
    """

    post: Post
    comments: list[Comment]
    version: str | None = None


def post_page_get(*, slug: str) -> PostPage:
    """The post page's data, kept in the cache until the post's version changes.

    posts/signals.py bumps it when the post, its tags, its author's public name or its comments
    change. Raises Http404 like post_get_published; a missing post is never kept.
    """
    version = cache_keys.versions_get_existing([cache_keys.post_dep(slug)])
    page = cache_keys.cached_under_version(
        name=f"post-page:{slug}", version=version, compute=lambda: _post_page_load(slug=slug)
    )
    return replace(page, version=version)


def _post_page_load(*, slug: str) -> PostPage:
    posts = Post.objects.published().with_listing_relations().only(*_POST_PAGE_FIELDS)
    post = get_object_or_404(posts, slug=slug)
    comments = comments_approved(post=post).only(*_COMMENT_PAGE_FIELDS)
    return PostPage(post=post, comments=list(comments))


# PostgreSQL's full-text search (posts/migrations/0004_post_search_index.py indexes this vector with GIN;
# a test checks that the search below uses the index, so the two stay the same expression).
SEARCH_CONFIG = "english"
# ts_headline marks the matched words with these private-use characters; the template escapes the text
# and only then turns them into <mark> (posts/templatetags/posts_search.py), so no post text is markup.
HIGHLIGHT_START, HIGHLIGHT_STOP = "\ue000", "\ue001"


def post_search(*, query: str) -> QuerySet[Post]:
    """Public posts matching every word of the query.

    On PostgreSQL: full-text search (stemmed words, "quoted phrases", -exclusions), best matches
    first (title over excerpt over body), each with `search_headline`, a snippet of its text with
    the matches marked. Elsewhere: a case-insensitive match on title, excerpt and body, newest first.
    """
    query = query.strip()
    posts = post_list_published()
    if not query:
        return posts.none()
    if connection.vendor == "postgresql":
        return _post_search_postgresql(posts, query)
    terms = query.split()[:8]
    condition = Q()
    for term in terms:
        condition &= Q(title__icontains=term) | Q(excerpt__icontains=term) | Q(body__icontains=term)
    return posts.filter(condition)


def post_search_count(*, query: str, version: cache_keys.ListVersion | None) -> int:
    """How many public posts match the query, kept under the search's `version` (None: counted afresh).

    `version` is the search results' (cache_keys.list_versions([[SEARCH], ...])): a public post's
    change or the next release ends it.
    """
    if version is None:
        return post_search(query=query).count()
    return cache_keys.cached_under_version(
        name="post-count",
        version=version.version,
        compute=lambda: post_search(query=query).count(),
        seconds=version.seconds,
    )


def _post_search_postgresql(posts: QuerySet[Post], query: str) -> QuerySet[Post]:
    from django.contrib.postgres.search import SearchHeadline, SearchQuery, SearchRank, SearchVector

    vector = (
        SearchVector("title", weight="A", config=SEARCH_CONFIG)
        + SearchVector("excerpt", weight="B", config=SEARCH_CONFIG)
        + SearchVector("body", weight="C", config=SEARCH_CONFIG)
    )
    search = SearchQuery(query, search_type="websearch", config=SEARCH_CONFIG)
    # The rendered body without its tags: the snippet shows the words a reader sees, not Markdown.
    text = Func(F("body_html"), Value("<[^>]*>"), Value(" "), Value("g"), function="regexp_replace")
    headline = SearchHeadline(
        text,
        search,
        config=SEARCH_CONFIG,
        start_sel=HIGHLIGHT_START,
        stop_sel=HIGHLIGHT_STOP,
        min_words=15,
        max_words=35,
        max_fragments=2,
        fragment_delimiter=" … ",
    )
    # The match (@@, through the index) keeps posts with every word; a rank above 0 alone would keep those with any.
    return (
        posts.annotate(document=vector, rank=SearchRank(vector, search), search_headline=headline)
        .filter(document=search)
        .order_by("-rank", "-published_at", "-pk")
    )


def comments_approved(*, post: Post) -> QuerySet[Comment]:
    return post.comments.approved().select_related("author")


def comments_pending_by(*, post: Post, author) -> QuerySet[Comment]:
    """The author's own comments on the post that wait for an editor: shown to them alone."""
    return post.comments.filter(author=author, status=CommentStatus.PENDING).select_related("author")


def post_for_comments(*, slug: str) -> Post | None:
    """A public post, with only what its comment area needs (its slug), or None."""
    return Post.objects.published().only("slug").filter(slug=slug).first()


def tag_cloud(*, limit: int = 30) -> QuerySet[Tag]:
    """Tags with at least one public post, most used first."""
    public = Post.objects.published()
    return (
        Tag.objects.annotate(post_count=Count("posts", filter=Q(posts__in=public)))
        .filter(post_count__gt=0)
        .order_by("-post_count", "name")[:limit]
    )


def posts_for_editor(*, user) -> QuerySet[Post]:
    return Post.objects.editable_by(user).select_related("author").prefetch_related("tags").order_by("-updated_at")


def review_queue() -> QuerySet[Post]:
    return Post.objects.filter(status=PostStatus.REVIEW).select_related("author").order_by("updated_at")


RECENT_POSTS = 5


def post_list_recent(*, limit: int = RECENT_POSTS) -> QuerySet[Post]:
    """Titles and dates for the sidebar: no relations, so it stays one small query."""
    return Post.objects.published().only("title", "slug", "published_at").order_by("-published_at", "-pk")[:limit]


def post_is_recent(*, post: Post) -> bool:
    """Whether the sidebar's recent posts include this post."""
    return post.pk in set(post_list_recent().values_list("pk", flat=True))


def tag_get_public(*, slug: str) -> Tag:
    """A tag readers may browse: one with at least one public post, else 404."""
    public = Post.objects.published().filter(tags=OuterRef("pk"))
    return get_object_or_404(Tag.objects.filter(Exists(public)), slug=slug)


def tag_list_public() -> QuerySet[Tag]:
    """Every tag with at least one public post (the sitemap lists these)."""
    public = Post.objects.published().filter(tags=OuterRef("pk"))
    return Tag.objects.filter(Exists(public)).order_by("name")


def author_get_public(*, username: str):
    """An author readers may browse: someone with at least one public post, else 404."""
    return get_object_or_404(_authors_with_public_posts(), username=username)


def author_list_public() -> QuerySet:
    """Every author with at least one public post (the sitemap lists these)."""
    return _authors_with_public_posts().order_by("username")


def _authors_with_public_posts() -> QuerySet:
    public = Post.objects.published().filter(author=OuterRef("pk"))
    return get_user_model().objects.filter(Exists(public))


def tag_suggestions(*, user, limit: int = 500) -> list[str]:
    """Tag names the editor offers while typing tags: those on public posts and on the user's own.

    A tag that only another author's drafts carry stays as private as those drafts.
    """
    posts = Post.objects.published() | Post.objects.filter(author=user)
    tags = Tag.objects.filter(Exists(posts.filter(tags=OuterRef("pk"))))
    return list(tags.order_by("name").values_list("name", flat=True)[:limit])


def revisions_for_post(*, post: Post) -> QuerySet[Revision]:
    return post.revisions.select_related("created_by").order_by("-version")


def revision_get(*, post: Post, version: int) -> Revision:
    return get_object_or_404(revisions_for_post(post=post), version=version)


def post_list_identity(*, tag: Tag | None = None, author=None) -> tuple[str, str]:
    """A list's name in cache keys and the version it is cached under (posts.signals bumps it)."""
    if tag is not None:
        return f"tag:{tag.slug}", cache_keys.tag_dep(tag.slug)
    if author is not None:
        return f"author:{author.username}", cache_keys.author_dep(author.username)
    return "index", cache_keys.INDEX


def post_count_published(*, tag: Tag | None = None, author=None) -> int:
    """How many public posts a list shows in all (for its pagination), kept until that list changes."""
    _, dep = post_list_identity(tag=tag, author=author)
    return post_count_published_under(tag=tag, author=author, version=cache_keys.list_version([dep]))


def post_count_published_under(*, tag: Tag | None = None, author=None, version: cache_keys.ListVersion | None) -> int:
    """post_count_published, kept under the list's `version` read beforehand (None: counted afresh).

    `version` is the list's from cache_keys.list_version(s), of its tag's, author's or the index's
    dependency: the list's changes and the next release end it.
    """
    name, _ = post_list_identity(tag=tag, author=author)

    def count() -> int:
        return post_list_published(tag=tag, author=author).count()

    if version is None:
        return count()
    return cache_keys.cached_under_version(
        name=f"post-count:{name}", version=version.version, compute=count, seconds=version.seconds
    )
