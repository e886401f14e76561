"""The sitemap at /sitemap.xml: the home page, public posts, and tags and authors that have them.

The URL conf passes these classes, not instances: the sitemap view instantiates each one per
request, so a paginator cached on an instance never outlives the request.
"""

from datetime import datetime

from django.contrib.sitemaps import Sitemap
from django.db.models import QuerySet
from django.urls import reverse

from . import selectors
from .models import Post, Tag


class HomeSitemap(Sitemap):
    changefreq = "daily"
    priority = 1.0

    def items(self) -> list[str]:
        return ["posts:index"]

    def location(self, item: str) -> str:
        return reverse(item)


class PostSitemap(Sitemap):
    changefreq = "weekly"
    priority = 0.8

    def items(self) -> QuerySet[Post]:
        return Post.objects.published().only("slug", "updated_at").order_by("-published_at", "-pk")

    def lastmod(self, item: Post) -> datetime:
        return item.updated_at


class TagSitemap(Sitemap):
    changefreq = "weekly"
    priority = 0.5

    def items(self) -> QuerySet[Tag]:
        return selectors.tag_list_public()


class AuthorSitemap(Sitemap):
    changefreq = "weekly"
    priority = 0.5

    def items(self) -> QuerySet:
        return selectors.author_list_public()

    def location(self, item) -> str:
        return reverse("posts:author", kwargs={"username": item.username})


SITEMAPS = {"home": HomeSitemap, "posts": PostSitemap, "tags": TagSitemap, "authors": AuthorSitemap}
