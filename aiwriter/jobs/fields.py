"""Which post field each batch action fills, and what of the model's text goes into it."""

import re

from posts.models import Post

from ..models import BatchAction

TARGET_FIELDS = {
    BatchAction.SUMMARIZE: "excerpt",
    BatchAction.META_DESCRIPTION: "meta_description",
    BatchAction.TITLES: "meta_title",
    BatchAction.TAGS: "tags",
    # Not a post's field: an alt-text job fills the library image's (jobs/alt_text.py).
    BatchAction.ALT_TEXT: "alt_text",
}
FIELD_LABELS = {
    "excerpt": "excerpt",
    "meta_description": "meta description",
    "meta_title": "search-engine title",
    "tags": "tags",
    "alt_text": "alt text",
}
MAX_TAGS = 8

_LIST_MARKER = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s*")
_QUOTES = re.compile(r"^[\"“']+|[\"”']+$")


def field_with_article(field: str) -> str:
    """'an excerpt', 'a meta description', 'tags': for messages about what a post already has."""
    label = FIELD_LABELS[field]
    if field == "tags":
        return label
    return f"an {label}" if label[0] in "aeiou" else f"a {label}"


def field_filled(post: Post, field: str) -> bool:
    if field == "tags":
        return post.tags.exists()
    return bool(getattr(post, field).strip())


def suggestion_lines(text: str) -> list[str]:
    """One suggestion per line, without the numbering and quotes models like to add (as the AI panel reads them)."""
    lines = (_QUOTES.sub("", _LIST_MARKER.sub("", line)).strip() for line in text.splitlines())
    return [line for line in lines if line]


def field_value(*, action: str, text: str) -> str | list[str]:
    """What goes into the post's field: the text, the first suggested title, or the tag names."""
    if action == BatchAction.TITLES:
        lines = suggestion_lines(text)
        return lines[0][:70].strip() if lines else ""
    if action == BatchAction.TAGS:
        names = [name.strip() for line in suggestion_lines(text) for name in line.split(",")]
        return [name for name in dict.fromkeys(names) if name][:MAX_TAGS]
    if action == BatchAction.ALT_TEXT:
        return _QUOTES.sub("", " ".join(text.split()))[:1000].strip()
    limit = 160 if action == BatchAction.META_DESCRIPTION else 1000
    return text.strip()[:limit].strip()
