"""What happened to posts, comments and tags: signals that posts.services sends after each write.

Like Wagtail's `page_published`, each says what changed in the domain's own terms, with the
state before and after, so a listener (the cache invalidation in posts/signals.py) never reads
a row again to find out. They are sent inside the write's transaction, once the write is done;
a listener that acts outside the database waits for the commit (transaction.on_commit).
"""

from dataclasses import dataclass, field
from datetime import datetime

from django.dispatch import Signal


@dataclass(frozen=True, slots=True)
class PostState:
    """A post as readers know it at one moment.

    `author_username` and `tag_slugs` are filled only while the post is public: readers see
    neither on a post they cannot read. `release_at` is when a post that is not public yet
    will be (scheduled), else None.
    """

    slug: str
    title: str
    excerpt: str
    body_html: str
    published_at: datetime | None
    public: bool
    release_at: datetime | None = None
    author_username: str = ""
    tag_slugs: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True, slots=True)
class TagState:
    name: str
    slug: str


# A post was created, saved or deleted: `post`, and its `before` and `after` states (PostState,
# None before it existed and after it was deleted).
post_changed = Signal()

# A comment was added, moderated or deleted: `comment`, `post_slug`, and whether readers saw it
# (approved) `shown_before` and `shown_after`.
comment_changed = Signal()

# A tag was created or renamed, or is about to be deleted: `tag`, `before` and `after` (TagState
# or None). For a deletion it is sent before the tag's rows go, so listeners can still find its posts.
tag_changed = Signal()

# An image readers may see changed its file or alt text, or is about to be deleted (sent before its
# rows go, so listeners can still find the posts that show it): `image`.
image_changed = Signal()

# A post's cover image was chosen from the library, replaced or removed: `post`.
post_cover_changed = Signal()

# Another library image became the one link previews show for posts without a cover: no arguments.
site_default_image_changed = Signal()
