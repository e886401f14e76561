"""Responsive images for readers: `srcset` and `sizes` over the renditions, WebP where smaller.

Post bodies are stored as sanitized HTML with plain <img> elements (posts/markdown.py); a page
turns those that show library images into <picture> elements as it renders, so a change of an
image's file or alt text shows on the next render of the pages that use it (their cached copies
are refreshed by posts/signals.py). The alt text written in the Markdown wins; where it is
empty, the library's is used.
"""

import html
import re
import uuid
from dataclasses import dataclass

from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from ..cache_keys import cached_under_version
from .models import Image, ImageFormat
from .renditions import CARD_SPEC
from .selectors import post_images
from .services import IMAGE_URL_KEY

# The post's column (site.css: --measure, 44rem) or the screen less its margins, whichever is narrower.
BODY_SIZES = "(max-width: 46rem) calc(100vw - 2rem), 44rem"
# Originals that every browser shows; AVIF and GIF ones are offered through their PNG or JPEG copies.
_SERVED_AS_IS = (ImageFormat.JPEG, ImageFormat.PNG, ImageFormat.WEBP)
# nh3 writes every <img> this way: attributes in double quotes, with &, < and " escaped.
_IMG = re.compile(r"<img\s[^>]*>")
_ATTRIBUTE = re.compile(r'([a-z-]+)="([^"]*)"')


@dataclass(frozen=True, slots=True)
class Card:
    """The link-preview picture: OpenGraph and Twitter cards."""

    url: str
    width: int
    height: int
    alt: str
    mime_type: str


def card_of(image: Image) -> Card | None:
    for rendition in image.renditions.all():
        if rendition.spec == CARD_SPEC:
            return Card(rendition.file.url, rendition.width, rendition.height, image.alt_text, rendition.mime_type)
    return None


def _candidates(image: Image) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """(base, webp) srcset candidates as (url, width); WebP lists the base copy where no WebP is smaller."""
    by_spec = {r.spec: r for r in image.renditions.all()}
    widths = sorted({r.width for r in by_spec.values() if r.spec.startswith("w")} | {image.width})
    base, webp = [], []
    for width in widths:
        own = by_spec.get(f"w{width}")
        if own is not None:
            url = own.file.url
        elif width == image.width and image.mime_type in _SERVED_AS_IS:
            url = image.file.url
        else:
            continue
        base.append((url, width))
        smaller = by_spec.get(f"w{width}-webp")
        webp.append((smaller.file.url if smaller else url, width))
    if not any(url != other for (url, _), (other, _) in zip(base, webp, strict=True)):
        webp = []
    return base, webp


def _srcset(candidates: list[tuple[str, int]]) -> str:
    return ", ".join(f"{url} {width}w" for url, width in candidates)


def picture_html(image: Image, *, alt: str, lazy: bool, sizes: str = BODY_SIZES, css_class: str = "", title: str = ""):
    """A <picture> with the WebP and base candidates, or a plain <img> for an animation."""
    loading = "lazy" if lazy else "eager"
    base, webp = ([], []) if image.animated else _candidates(image)
    if not base:
        return format_html(
            '<img{} src="{}" width="{}" height="{}" alt="{}"{} loading="{}" decoding="async">',
            _class(css_class),
            image.file.url,
            image.width,
            image.height,
            alt,
            _title(title),
            loading,
        )
    source = format_html('<source type="image/webp" srcset="{}" sizes="{}">', _srcset(webp), sizes) if webp else ""
    return format_html(
        '<picture>{}<img{} src="{}" srcset="{}" sizes="{}" width="{}" height="{}" alt="{}"{} loading="{}" '
        'decoding="async"></picture>',
        source,
        _class(css_class),
        base[-1][0],
        _srcset(base),
        sizes,
        image.width,
        image.height,
        alt,
        _title(title),
        loading,
    )


def _class(css_class: str) -> SafeString:
    return format_html(' class="{}"', css_class) if css_class else mark_safe("")


def _title(title: str) -> SafeString:
    return format_html(' title="{}"', title) if title else mark_safe("")


def body_with_pictures(body_html: str, *, first_eager: bool, images: dict[uuid.UUID, Image]) -> SafeString:
    """The sanitized body with library images responsive and every image after the first lazy.

    `first_eager`: whether the body's first image may be in view when the page opens (no cover above it).
    `images`: the library images the body may show, by key.
    """
    index = 0

    def replace(tag_match: re.Match) -> str:
        nonlocal index
        lazy = index > 0 or not first_eager
        index += 1
        attributes = _attributes(tag_match.group(0))
        key = IMAGE_URL_KEY.search(attributes.get("src", ""))
        image = images.get(uuid.UUID(key.group(1))) if key else None
        if image is None:
            return tag_match.group(0)[:-1] + (' loading="lazy">' if lazy else ">")
        alt = attributes.get("alt") or image.alt_text
        return picture_html(image, alt=alt, lazy=lazy, title=attributes.get("title", ""))

    return mark_safe(_IMG.sub(replace, body_html))


def _attributes(tag: str) -> dict[str, str]:
    return {name: html.unescape(value) for name, value in _ATTRIBUTE.findall(tag)}


@dataclass(frozen=True)
class PostPictures:
    """What a post's page shows of the library: its body with responsive images, its cover, its card.

    `card` is the cover's link-preview card, else the site's default image's (None: neither).
    """

    body_html: SafeString
    cover_html: SafeString
    card: Card | None


def post_pictures(post) -> PostPictures:
    images = post_images(post=post)
    cover = next((image for image in images if image.is_cover), None)
    default = next((image for image in images if image.is_site_default), None)
    cover_html = picture_html(cover, alt=cover.alt_text, lazy=False, css_class="cover") if cover else mark_safe("")
    body = body_with_pictures(post.body_html, first_eager=cover is None, images={i.key: i for i in images})
    card_from = cover or (default if not post.cover_image_url else None)
    return PostPictures(body_html=body, cover_html=cover_html, card=card_of(card_from) if card_from else None)


def post_pictures_get(*, post, version: str | None) -> PostPictures:
    """post_pictures kept under the post's version (posts/signals.py bumps it when an image it shows changes)."""
    return cached_under_version(name=f"post-pictures:{post.slug}", version=version, compute=lambda: post_pictures(post))
