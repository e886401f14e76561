"""RSS and Atom feeds of the latest public posts, with full sanitized HTML.

Every text goes through without_control_characters: XML cannot carry most control characters,
and one saved before the services removed them would otherwise fail the feed for everyone.
"""

from datetime import datetime

from django.conf import settings
from django.contrib.syndication.views import Feed
from django.db.models import QuerySet
from django.utils.feedgenerator import Atom1Feed
from django.utils.html import escape, linebreaks

from blogsite.text import without_control_characters

from . import selectors
from .models import Post

FEED_ITEMS = 20


class LatestPostsFeed(Feed):
    link = "/"

    def title(self) -> str:
        return without_control_characters(settings.SITE_NAME, multiline=False)

    def description(self) -> str:
        return without_control_characters(settings.SITE_DESCRIPTION)

    def items(self) -> QuerySet[Post]:
        return selectors.post_list_published()[:FEED_ITEMS]

    def item_title(self, item: Post) -> str:
        return without_control_characters(item.title, multiline=False)

    def item_description(self, item: Post) -> str:
        # body_html is the sanitizer's output; the excerpt is plain text and is escaped here.
        return without_control_characters(item.body_html or linebreaks(escape(item.excerpt)))

    def item_author_name(self, item: Post) -> str:
        return without_control_characters(item.author.public_name, multiline=False)

    def item_categories(self, item: Post) -> list[str]:
        return [without_control_characters(tag.name, multiline=False) for tag in item.tags.all()]

    def item_pubdate(self, item: Post) -> datetime:
        return item.published_at

    def item_updateddate(self, item: Post) -> datetime:
        return item.updated_at


class LatestPostsAtomFeed(LatestPostsFeed):
    feed_type = Atom1Feed

    def subtitle(self) -> str:
        return without_control_characters(settings.SITE_DESCRIPTION)
