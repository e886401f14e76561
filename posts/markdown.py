"""Markdown to safe HTML: markdown-it renders, Pygments highlights, nh3 sanitizes.

Everything a person typed goes through `render_markdown`; its output is the only HTML
the templates mark safe.

Some Markdown costs far more than its size suggests: markdown-it scans ahead from every
`[` or `![` for the bracket that closes it, so a body of them takes time that grows with the
square of its length (tens of seconds at 1 MB), and a huge table takes seconds. A thread
cannot be stopped from outside, so text over MARKDOWN_INLINE_MAX_BYTES (a few hundredths of a
second at worst) is rendered in a child process that is killed after MARKDOWN_RENDER_SECONDS
(subprocess.run's timeout); the writer is told the text is too costly, and no worker is held
longer than that. At most MARKDOWN_RENDER_PROCESSES such children run at once per process.

A code block scrolls sideways when its lines are longer than the screen is wide, so each <pre> can be
reached with the keyboard (tabindex="0") and is named for what it holds ("Python code").
"""

import logging
import subprocess
import sys
import threading
from functools import cache, lru_cache

import nh3
from django.conf import settings
from django.utils.html import escape
from markdown_it import MarkdownIt
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.util import ClassNotFound

from blogsite.text import without_control_characters

logger = logging.getLogger(__name__)

TOO_COSTLY = (
    "This text takes too long to turn into HTML (more than {seconds:g} seconds), perhaps because of very many "
    "unclosed [ or ![ brackets or a very large table. Simplify it or split it into several posts; your text is kept."
)
NOT_RENDERED = "This text could not be turned into HTML. Simplify it or split it into several posts; your text is kept."
BUSY = "The server is busy turning other long posts into HTML. Try again in a moment; your text is kept."


class MarkdownTooCostly(ValueError):
    """The text would cost too much to render; the message is meant for the person who wrote it."""


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
    "pre": {"class", "tabindex", "role", "aria-label"},
    "span": {"class"},
    "div": {"class"},
    "th": {"align"},
    "td": {"align"},
    "ol": {"start"},
}
URL_SCHEMES = {"http", "https", "mailto"}


def _code_block(code_html: str, *, label: str, pre_class: str = "", code_class: str = "") -> str:
    """A <pre> that the keyboard reaches (it may scroll sideways), named for screen readers."""
    pre_class = f' class="{pre_class}"' if pre_class else ""
    code_class = f' class="{escape(code_class)}"' if code_class else ""
    return (
        f'<pre{pre_class} tabindex="0" role="group" aria-label="{escape(label)}">'
        f"<code{code_class}>{code_html}</code></pre>"
    )


def _highlight(code: str, lang: str, _attrs) -> str:
    """Every fenced block: highlighted when Pygments knows its language, else escaped as it is."""
    try:
        lexer = get_lexer_by_name(lang) if lang else None
    except ClassNotFound:
        lexer = None
    language = f"language-{lang}" if lang else ""
    if lexer is None:
        return _code_block(escape(code), label="Code", code_class=language)
    return _code_block(
        highlight(code, lexer, _FORMATTER), label=f"{lexer.name} code", pre_class="highlight", code_class=language
    )


def _indented_code(self, tokens, idx, options, env) -> str:
    return _code_block(escape(tokens[idx].content), label="Code") + "\n"


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    # Raw HTML in Markdown is escaped rather than passed through; nh3 is the second line.
    parser = MarkdownIt("commonmark", {"html": False, "linkify": False, "highlight": _highlight}).enable(
        ["table", "strikethrough"]
    )
    parser.add_render_rule("code_block", _indented_code)
    return parser


def render_markdown(text: str) -> str:
    """Post bodies: the full allow-list, images included. Raises MarkdownTooCostly (see the module's docstring)."""
    return _render("post", text)


def render_comment_markdown(text: str) -> str:
    """Comments: no images or headings, and links marked as user content."""
    return _render("comment", text)


def _post_html(text: str) -> str:
    return nh3.clean(
        _parser().render(text),
        tags=POST_TAGS,
        attributes=ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer",
    )


def _comment_html(text: str) -> str:
    return nh3.clean(
        _parser().render(text),
        tags=COMMENT_TAGS,
        attributes={"a": {"href", "title"}, "code": {"class"}, "pre": ATTRIBUTES["pre"], "span": {"class"}},
        url_schemes=URL_SCHEMES,
        link_rel="nofollow ugc noopener noreferrer",
    )


_RENDERERS = {"post": _post_html, "comment": _comment_html}


def _render(kind: str, text: str) -> str:
    # Control characters and lone surrogates (from JSON escapes) mean nothing in HTML and nh3 refuses the latter.
    text = without_control_characters(text or "")
    if len(text.encode()) <= settings.MARKDOWN_INLINE_MAX_BYTES:
        return _RENDERERS[kind](text)
    return _render_in_child_process(kind, text)


@cache
def _child_slots() -> threading.BoundedSemaphore:
    return threading.BoundedSemaphore(settings.MARKDOWN_RENDER_PROCESSES)


def _render_in_child_process(kind: str, text: str) -> str:
    seconds = settings.MARKDOWN_RENDER_SECONDS
    slots = _child_slots()
    if not slots.acquire(timeout=seconds):
        raise MarkdownTooCostly(BUSY)
    try:
        command = [sys.executable, "-m", "posts.markdown", kind]
        done = subprocess.run(
            command, input=text.encode(), capture_output=True, timeout=seconds, cwd=settings.BASE_DIR, check=True
        )
    except subprocess.TimeoutExpired as stopped:
        logger.warning("A Markdown render of %s bytes was stopped after %s s.", len(text.encode()), seconds)
        raise MarkdownTooCostly(TOO_COSTLY.format(seconds=seconds)) from stopped
    except subprocess.CalledProcessError as failed:
        logger.error("A Markdown render failed: %s", failed.stderr.decode(errors="replace")[-2000:])
        raise MarkdownTooCostly(NOT_RENDERED) from failed
    finally:
        slots.release()
    return done.stdout.decode()


def pygments_css() -> str:
    """The stylesheet for highlighted code (served as static/css/code.css)."""
    return HtmlFormatter(style="default").get_style_defs(".highlight")


if __name__ == "__main__":
    # The child process of _render_in_child_process: Markdown on stdin, HTML on stdout.
    sys.stdout.buffer.write(_RENDERERS[sys.argv[1]](sys.stdin.buffer.read().decode()).encode())
