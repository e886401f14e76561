"""Reads of posts, tags and comments, shaped for the pages that show them."""

from django.db import connection
from django.db.models import Count, Q, QuerySet
from django.shortcuts import get_object_or_404

from .models import Comment, Post, PostStatus, Tag


def post_list_published(*, tag: Tag | None = None, author=None) -> QuerySet[Post]:
    posts = Post.objects.published().with_listing_relations()
    if tag is not None:
        posts = posts.filter(tags=tag)
    if author is not None:
        posts = posts.filter(author=author)
    return posts.order_by("-published_at", "-pk")


def post_get_published(*, slug: str) -> Post:
    return get_object_or_404(Post.objects.published().with_listing_relations(), slug=slug)


def post_search(*, query: str) -> QuerySet[Post]:
    """Full-text search on PostgreSQL; a case-insensitive match on title, excerpt and body elsewhere."""
    query = query.strip()
    posts = post_list_published()
    if not query:
        return posts.none()
    if connection.vendor == "postgresql":
        from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector

        vector = (
            SearchVector("title", weight="A") + SearchVector("excerpt", weight="B") + SearchVector("body", weight="C")
        )
        search = SearchQuery(query, search_type="websearch")
        return posts.annotate(rank=SearchRank(vector, search)).filter(rank__gt=0).order_by("-rank", "-published_at")
    terms = query.split()[:8]
    condition = Q()
    for term in terms:
        condition &= Q(title__icontains=term) | Q(excerpt__icontains=term) | Q(body__icontains=term)
    return posts.filter(condition)


def comments_approved(*, post: Post) -> QuerySet[Comment]:
    return post.comments.approved().select_related("author")


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
