"""Reads about alt text: which of the library images a post shows leave a reader without one.

A body image's alt text is the one written in the Markdown (`![alt](…)`), else the library's;
the cover's is the library's. The Markdown is read with markdown-it's CommonMark parser, as the
post page reads it, so an image counts only where the page shows one.
"""

import uuid

from markdown_it import MarkdownIt

from ..models import Post
from .models import Image, ImageRole
from .services import IMAGE_URL_KEY

_PARSER = MarkdownIt("commonmark", {"html": False})


def images_without_alt_text(*, post: Post) -> list[Image]:
    """The library images the post shows with no alt text at all (in its body or as its cover)."""
    keys = body_image_keys_without_alt(post.body)
    shown_bare = Image.objects.filter(key__in=keys) | Image.objects.filter(uses__post=post, uses__role=ImageRole.COVER)
    return list(shown_bare.filter(alt_text="").distinct().order_by("pk"))


def body_image_keys_without_alt(body: str) -> set[uuid.UUID]:
    """Keys of the library images the Markdown shows at least once without alt text of its own."""
    keys = set()
    for token in _PARSER.parse(body or ""):
        for child in token.children or []:
            if child.type != "image" or child.content.strip():
                continue
            match = IMAGE_URL_KEY.search(str(child.attrGet("src") or ""))
            if match:
                keys.add(uuid.UUID(match.group(1)))
    return keys
