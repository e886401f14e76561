"""Markdown to safe HTML: markdown-it renders, Pygments highlights, nh3 sanitizes.

Everything a person typed goes through `render_markdown`; its output is the only HTML
the templates mark safe.
"""

from functools import lru_cache

import nh3
from markdown_it import MarkdownIt
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.util import ClassNotFound

_FORMATTER = HtmlFormatter(nowrap=True)

POST_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "div", "dl", "dt", "em", "figcaption",
    "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "kbd", "li", "ol", "p", "pre",
    "s", "span", "strong", "sub", "sup", "table", "tbody", "td", "th", "thead", "tr", "ul",
}  # fmt: skip
COMMENT_TAGS = {"a", "b", "blockquote", "br", "code", "em", "i", "li", "ol", "p", "pre", "s", "strong", "ul"}
ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "code": {"class"},
    "pre": {"class"},
    "span": {"class"},
    "div": {"class"},
    "th": {"align"},
    "td": {"align"},
    "ol": {"start"},
}
URL_SCHEMES = {"http", "https", "mailto"}


def _highlight(code: str, lang: str, _attrs) -> str:
    try:
        lexer = get_lexer_by_name(lang) if lang else None
    except ClassNotFound:
        lexer = None
    if lexer is None:
        return ""  # markdown-it escapes the code itself
    return f'<pre class="highlight"><code class="language-{lang}">{highlight(code, lexer, _FORMATTER)}</code></pre>'


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    # Raw HTML in Markdown is escaped rather than passed through; nh3 is the second line.
    return MarkdownIt("commonmark", {"html": False, "linkify": False, "highlight": _highlight}).enable(
        ["table", "strikethrough"]
    )


def render_markdown(text: str) -> str:
    """Post bodies: the full allow-list, images included."""
    return nh3.clean(
        _parser().render(text or ""),
        tags=POST_TAGS,
        attributes=ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer",
    )


def render_comment_markdown(text: str) -> str:
    """Comments: no images or headings, and links marked as user content."""
    return nh3.clean(
        _parser().render(text or ""),
        tags=COMMENT_TAGS,
        attributes={"a": {"href", "title"}, "code": {"class"}, "pre": {"class"}, "span": {"class"}},
        url_schemes=URL_SCHEMES,
        link_rel="nofollow ugc noopener noreferrer",
    )


def pygments_css() -> str:
    """The stylesheet for highlighted code (served as static/css/code.css)."""
    return HtmlFormatter(style="default").get_style_defs(".highlight")
