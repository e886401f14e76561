"""The public site: thin views over posts.selectors, rendering templates/posts/.

Pages rendered for a visitor who is not signed in carry nothing specific to anyone (no CSRF
token, no names), and the post page shows only that post, its tags, author and approved
comments, so the page cache in front of them serves every reader, signed in or not, the same
copy; a signed-in reader's own parts come from reader_fragment (posts/reader_fragment.py).
"""

import html
import json
from collections.abc import Iterable
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_cache_control, patch_vary_headers
from django.utils.functional import SimpleLazyObject
from django.utils.html import strip_tags
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import Truncator
from django.views.decorators.http import require_http_methods, require_safe
from django.views.generic import ListView

from accounts import throttle

from . import cache_keys, selectors, services
from .forms import CommentForm, SearchForm
from .images import responsive, sharing
from .models import Comment, CommentStatus, Post, Tag
from .reader_fragment import comment_area, reader_parts

# The tag of the message confirming a comment: the post page shows it in its comment area.
COMMENT_MESSAGE_TAG = "comment"
MAX_SLUG_CHARS = 220
# Characters that could end a <script> element or open markup inside one.
_JSON_SCRIPT_ESCAPES = {ord("<"): "\\u003C", ord(">"): "\\u003E", ord("&"): "\\u0026"}


class CountedPaginator(Paginator):
    """A paginator given its count (a cached one, posts.selectors.post_count_published) instead of a COUNT query."""

    def __init__(self, object_list, per_page, *, count: int, **kwargs) -> None:
        super().__init__(object_list, per_page, **kwargs)
        self.__dict__["count"] = count  # Paginator.count is a cached_property


class PublicListView(ListView):
    """A paginated list of public posts with the sidebar (tag cloud, recent posts).

    The sidebar querysets and the page of posts stay lazy (the tag cloud is not even built until
    its fragment renders), so the fragment caches around their includes skip the queries. A
    page number past the last page is a 404, like any other URL that shows nothing.
    """

    context_object_name = "posts"

    def get_paginate_by(self, queryset) -> int:
        return settings.POSTS_PER_PAGE

    def get_context_data(self, **kwargs) -> dict:
        context = super().get_context_data(**kwargs)
        # Built only if the fragment cache misses: even an unevaluated tag cloud queryset costs
        # about a millisecond to construct (its annotation is resolved when it is built).
        context.update(tag_cloud=SimpleLazyObject(selectors.tag_cloud), recent_posts=selectors.post_list_recent())
        return context


class VersionedListView(PublicListView):
    """The index, tag and author lists: their count and rendered posts are cached under the list's version.

    A subclass sets `tag` or `author` in get_queryset; neither means the index.
    """

    tag: Tag | None = None
    author = None

    def get_paginator(self, queryset, per_page, **kwargs) -> Paginator:
        # The list's versions and the sidebar's, for the count and both fragments, in one round trip.
        _, dep = selectors.post_list_identity(tag=self.tag, author=self.author)
        self.list_version, self.sidebar_version = cache_keys.list_versions([[dep], [cache_keys.SIDEBAR]])
        count = selectors.post_count_published_under(tag=self.tag, author=self.author, version=self.list_version)
        return CountedPaginator(queryset, per_page, count=count, **kwargs)

    def get_context_data(self, **kwargs) -> dict:
        context = super().get_context_data(**kwargs)
        name, _ = selectors.post_list_identity(tag=self.tag, author=self.author)
        name = f"{name}:page-{context['page_obj'].number}"
        context["post_list_version"] = cache_keys.named(self.list_version, name)
        context["cache_versions"] = cache_keys.TemplateVersions(sidebar=self.sidebar_version)
        return context


class PostIndexView(VersionedListView):
    template_name = "posts/index.html"

    def get_queryset(self) -> QuerySet[Post]:
        return selectors.post_list_published()


class TagView(VersionedListView):
    template_name = "posts/tag.html"

    def get_queryset(self) -> QuerySet[Post]:
        self.tag = selectors.tag_get_public(slug=self.kwargs["slug"])
        return selectors.post_list_published(tag=self.tag)

    def get_context_data(self, **kwargs) -> dict:
        return super().get_context_data(tag=self.tag, **kwargs)


class AuthorView(VersionedListView):
    template_name = "posts/author.html"

    def get_queryset(self) -> QuerySet[Post]:
        self.author = selectors.author_get_public(username=self.kwargs["username"])
        return selectors.post_list_published(author=self.author)

    def get_context_data(self, **kwargs) -> dict:
        avatar_url = web_url_or_empty(self.author.avatar_url)
        return super().get_context_data(author=self.author, avatar_url=avatar_url, **kwargs)


class SearchView(PublicListView):
    """Search results: their count and rendered list are cached per query under SEARCH's version."""

    template_name = "posts/search.html"

    def get_queryset(self) -> QuerySet[Post]:
        self.form = SearchForm(self.request.GET)
        self.query = self.form.cleaned_data["q"] if self.form.is_valid() else ""
        if not self.query:
            return Post.objects.none()
        return selectors.post_search(query=self.query)

    def get_paginator(self, queryset, per_page, **kwargs) -> Paginator:
        if not self.query:
            return super().get_paginator(queryset, per_page, **kwargs)
        # One read of the versions for the count, the rendered results (search.html adds the page
        # number) and the sidebar.
        versions = cache_keys.list_versions([[cache_keys.SEARCH], [cache_keys.SIDEBAR]])
        self.results_version = cache_keys.named(versions[0], cache_keys.search_name(self.query))
        self.sidebar_version = versions[1]
        count = selectors.post_search_count(query=self.query, version=self.results_version)
        return CountedPaginator(queryset, per_page, count=count, **kwargs)

    def get_context_data(self, **kwargs) -> dict:
        # search_query fills the search box in the site header.
        search_query = self.request.GET.get("q", "")
        context = super().get_context_data(form=self.form, query=self.query, search_query=search_query, **kwargs)
        if self.query:
            # The results as rendered, kept until a public post changes or the next one goes public.
            context["post_list_version"] = self.results_version
            context["cache_versions"] = cache_keys.TemplateVersions(sidebar=self.sidebar_version)
        return context

    def render_to_response(self, context, **response_kwargs) -> HttpResponse:
        status = 400 if self.form.errors else 200
        return super().render_to_response(context, status=status, **response_kwargs)


@require_safe
def post_detail(request: HttpRequest, slug: str) -> HttpResponse:
    page = selectors.post_page_get(slug=slug)
    return render_post(request, post=page.post, comments=page.comments, version=page.version, form=CommentForm())


@require_http_methods(["GET", "HEAD", "POST"])
def comment_submit(request: HttpRequest, slug: str) -> HttpResponse:
    """POST: a reader's comment. GET: the post page with the comment form, for readers without the script.

    The shared post page links here: a reader not signed in signs in first, then comes back.
    """
    post = selectors.post_get_published(slug=slug)
    if not request.user.is_authenticated:
        return redirect_to_login(request.path if request.method != "POST" else f"{post.get_absolute_url()}#comments")
    if request.method != "POST":
        response = render_post(request, post=post, form=CommentForm())
        patch_cache_control(response, private=True)
        return response
    form = CommentForm(request.POST)
    if not form.is_valid():
        return render_post(request, post=post, form=form, status=400)
    if wait := throttle.rate_limit_take(scope="comment", key=request.user.pk):
        form.add_error(None, throttle.rate_limit_message("comments", wait))
        return render_post(request, post=post, form=form, status=429)
    try:
        comment = services.comment_create(post=post, author=request.user, body=form.cleaned_data["body"])
    except PermissionDenied:
        form.add_error(None, "Your account is not allowed to comment. Ask an editor if you think it should be.")
        return render_post(request, post=post, form=form, status=403)
    except services.PostError as error:
        form.add_error("body", str(error))
        return render_post(request, post=post, form=form, status=400)
    # Shown in the comment area, where the redirect lands, not at the top of the page.
    messages.success(request, comment_confirmation(comment), extra_tags=COMMENT_MESSAGE_TAG)
    return redirect(f"{post.get_absolute_url()}#{comment_anchor(comment)}")


@require_safe
def reader_fragment(request: HttpRequest) -> HttpResponse:
    """The signed-in reader's parts of a shared page (posts/reader_fragment.py), as JSON for them alone."""
    body = reader_parts(request, post_slug=request.GET.get("post", "")[:MAX_SLUG_CHARS])
    response = HttpResponse(body, content_type="application/json")
    patch_cache_control(response, private=True, no_store=True)
    patch_vary_headers(response, ("Cookie",))
    return response


def render_post(
    request: HttpRequest,
    *,
    post: Post,
    form: CommentForm,
    comments: Iterable[Comment] | None = None,
    version: str | None = None,
    status: int = 200,
) -> HttpResponse:
    """The post page; for a signed-in reader with their comment area (form, CSRF token, pending comments).

    `comments` and the post's `version` come with the cached page data (posts.selectors.post_page_get);
    without them, as after a refused comment, the comments are read afresh and no fragment is cached.
    A reader not signed in gets the page every reader shares (posts/reader_fragment.py).
    """
    if comments is None:
        comments = selectors.comments_approved(post=post)
    canonical_url = web_url_or_empty(post.canonical_url) or request.build_absolute_uri(post.get_absolute_url())
    pictures = responsive.post_pictures_get(post=post, version=version)
    cover_url = "" if pictures.cover_html else web_url_or_empty(post.cover_image_url)
    share = sharing.share_image(request, pictures=pictures, cover_url=cover_url)
    context = {
        **comment_area(request, post=post, form=form),
        "comments": comments,
        "post_version": version,
        "canonical_url": canonical_url,
        "cover_url": cover_url,
        "pictures": pictures,
        "share_image": share,
        "description": post_description(post),
        "json_ld": blog_posting_json_ld(request, post=post, canonical_url=canonical_url, image_url=share.url),
    }
    if request.user.is_authenticated:
        notices = list(messages.get_messages(request))
        context["comment_messages"] = [notice for notice in notices if COMMENT_MESSAGE_TAG in notice.tags.split()]
        context["messages"] = [notice for notice in notices if COMMENT_MESSAGE_TAG not in notice.tags.split()]
    return render(request, "posts/detail.html", context, status=status)


def comment_confirmation(comment: Comment) -> str:
    if comment.status == CommentStatus.APPROVED:
        return "Your comment is published."
    return "Thanks for your comment. An editor will review it, and it will appear here once approved."


def comment_anchor(comment: Comment) -> str:
    return f"comment-{comment.pk}" if comment.status == CommentStatus.APPROVED else "comments"


def post_description(post: Post) -> str:
    """Plain text for meta and link previews: the SEO description, the excerpt, or the body's start."""
    text = post.meta_description or post.excerpt or html.unescape(strip_tags(post.body_html))
    return Truncator(" ".join(text.split())).chars(160)


def web_url_or_empty(url: str) -> str:
    """The URL when it is http(s), else "": stored URLs end up in src and href attributes."""
    return url if url and urlsplit(url).scheme in ("http", "https") else ""


def blog_posting_json_ld(request: HttpRequest, *, post: Post, canonical_url: str, image_url: str) -> SafeString:
    """schema.org BlogPosting, escaped so no text in it can close the <script> element."""
    data = {
        "@context": "https://schema.org",
        "@type": "BlogPosting",
        "headline": post.meta_title or post.title,
        "description": post_description(post),
        "datePublished": post.published_at,
        "dateModified": post.updated_at,
        "mainEntityOfPage": canonical_url,
        "url": request.build_absolute_uri(post.get_absolute_url()),
        "author": {
            "@type": "Person",
            "name": post.author.public_name,
            "url": request.build_absolute_uri(reverse("posts:author", kwargs={"username": post.author.username})),
        },
        "keywords": [tag.name for tag in post.tags.all()],
        "image": [image_url],
        "publisher": sharing.publisher(request),
    }
    return mark_safe(json.dumps(data, cls=DjangoJSONEncoder).translate(_JSON_SCRIPT_ESCAPES))


@require_safe
def robots_txt(request: HttpRequest) -> HttpResponse:
    sitemap_url = request.build_absolute_uri(reverse("posts:sitemap"))
    return render(request, "posts/robots.txt", {"sitemap_url": sitemap_url}, content_type="text/plain")
