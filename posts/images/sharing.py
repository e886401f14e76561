"""The picture link previews show (OpenGraph, Twitter cards, JSON-LD), and the site as publisher.

Every post page names an image, since OpenGraph requires one: the library cover's card (1200 × 630),
else the outside cover image URL, else the library image staff chose as the site's default, else
the picture the site ships.
"""

from dataclasses import dataclass

from django.conf import settings
from django.templatetags.static import static

from .responsive import PostPictures

SHIPPED_DEFAULT = ("img/share-default.png", 1200, 630, "image/png")


@dataclass(frozen=True, slots=True)
class ShareImage:
    url: str  # absolute
    width: int | None = None
    height: int | None = None
    alt: str = ""
    mime_type: str = ""


def share_image(request, *, pictures: PostPictures, cover_url: str) -> ShareImage:
    """`cover_url`: the post's outside cover image, "" when it has none (or a library cover)."""
    card = pictures.card
    if card is not None:
        return ShareImage(request.build_absolute_uri(card.url), card.width, card.height, card.alt, card.mime_type)
    if cover_url:
        return ShareImage(cover_url)
    path, width, height, mime_type = SHIPPED_DEFAULT
    return ShareImage(request.build_absolute_uri(static(path)), width, height, "", mime_type)


def publisher(request) -> dict:
    """schema.org's publisher of every post: the site."""
    return {"@type": "Organization", "name": settings.SITE_NAME, "url": request.build_absolute_uri("/")}
