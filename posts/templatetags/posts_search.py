"""The search page's highlighted snippets, from the text PostgreSQL marked (posts.selectors.post_search)."""

import html
import re

from django import template
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from posts.selectors import HIGHLIGHT_START, HIGHLIGHT_STOP

register = template.Library()

_MARKED = re.compile(f"{HIGHLIGHT_START}(.*?){HIGHLIGHT_STOP}", re.DOTALL)
_MARKERS = re.compile(f"[{HIGHLIGHT_START}{HIGHLIGHT_STOP}]")
_SPACES = re.compile(r"\s+")


@register.filter
def search_snippet(headline: str) -> SafeString:
    """Every piece of the snippet escaped, the matched words in <mark>: a post's text never becomes markup.

    The snippet comes from the rendered body with its tags removed, so its entities (&amp;) are
    decoded first; markers a post's own text happened to hold are dropped.
    """
    pieces, end = [], 0
    for match in _MARKED.finditer(headline):
        pieces.append(_text(headline[end : match.start()]))
        pieces.append(f"<mark>{_text(match.group(1))}</mark>")
        end = match.end()
    pieces.append(_text(headline[end:]))
    return mark_safe("".join(pieces).strip())  # each piece is escaped


def _text(fragment: str) -> str:
    return escape(_SPACES.sub(" ", html.unescape(_MARKERS.sub("", fragment))))
