import time
from pathlib import Path

import pytest
from django.conf import settings

from posts.markdown import MarkdownTooCostly, pygments_css, render_comment_markdown, render_markdown


def test_emphasis_lists_and_tables_render():
    html = render_markdown("*a* **b** ~~c~~\n\n- one\n- two\n\n| x | y |\n|---|---|\n| 1 | 2 |")
    assert "<em>a</em> <strong>b</strong> <s>c</s>" in html
    assert "<ul>\n<li>one</li>\n<li>two</li>\n</ul>" in html
    assert "<table>" in html and "<td>1</td>" in html


def test_fenced_code_with_a_known_language_is_highlighted():
    html = render_markdown("```python\nimport os\n```")
    assert html.startswith('<pre class="highlight" tabindex="0" role="group" aria-label="Python code">')
    assert '<code class="language-python"><span class="kn">import</span>' in html


CODE_BLOCKS = {
    "highlighted": ("```sql\nSELECT 1;\n```", "SQL code"),
    "unknown language": ("```nosuchlang\nx\n```", "Code"),
    "no language": ("```\nx\n```", "Code"),
    "indented": ("Text.\n\n    x = 1\n", "Code"),
}


@pytest.mark.parametrize("render", [render_markdown, render_comment_markdown], ids=["post", "comment"])
@pytest.mark.parametrize(("text", "label"), CODE_BLOCKS.values(), ids=CODE_BLOCKS.keys())
def test_every_code_block_can_be_reached_by_keyboard_and_is_named(render, text, label):
    """A long line scrolls the block sideways: keyboard users scroll it once it has the focus."""
    html = render(text)
    assert html.count("<pre") == 1
    assert f'tabindex="0" role="group" aria-label="{label}"><code' in html


def test_a_code_block_language_cannot_add_markup():
    html = render_markdown('```x"><script>alert(1)</script>\ny\n```')
    assert "<script" not in html
    assert html.count("<pre") == 1 and 'aria-label="Code"' in html


def test_fenced_code_with_an_unknown_language_is_escaped_plainly():
    html = render_markdown("```nosuchlang\n<b>x</b>\n```")
    assert "&lt;b&gt;x&lt;/b&gt;" in html
    assert "<b>" not in html


def test_raw_html_is_shown_as_text_not_markup():
    html = render_markdown('<div onclick="x()">hi</div>')
    assert "&lt;div" in html
    assert "<div" not in html


def test_links_get_noopener_and_images_stay_in_posts():
    html = render_markdown("[site](https://example.com) ![alt text](https://example.com/i.png)")
    assert '<a href="https://example.com" rel="noopener noreferrer">site</a>' in html
    assert '<img src="https://example.com/i.png" alt="alt text">' in html


def test_comments_drop_images_and_headings_and_mark_links_as_user_content():
    html = render_comment_markdown("# Big\n\n![i](https://example.com/i.png) [l](https://example.com)")
    assert "<h1>" not in html and "<img" not in html
    assert 'rel="nofollow ugc noopener noreferrer"' in html


def test_code_css_file_matches_the_highlighter():
    served = (Path(settings.BASE_DIR) / "static" / "css" / "code.css").read_text()
    assert pygments_css() in served
    assert ".highlight .kn" in served


# Documents from the attack report, each tens of seconds of CPU at full size; the render's time
# limit is lowered so each test stops them in about half a second.
COSTLY_DOCUMENTS = {
    "repeated image openers": "![" * 150_000,
    "repeated brackets": "[" * 300_000,
    "a large table": "| a | b | c |\n|---|---|---|\n" + "| x | y | z |\n" * 64_000,
}


@pytest.fixture
def small_render_limits(settings):
    settings.MARKDOWN_INLINE_MAX_BYTES = 1_000
    settings.MARKDOWN_RENDER_SECONDS = 0.5


@pytest.mark.parametrize("text", COSTLY_DOCUMENTS.values(), ids=COSTLY_DOCUMENTS.keys())
def test_a_costly_document_is_stopped_at_the_time_limit_with_a_clear_message(small_render_limits, text):
    started = time.monotonic()
    with pytest.raises(MarkdownTooCostly, match="takes too long to turn into HTML"):
        render_markdown(text)
    assert time.monotonic() - started < 3


def test_a_long_ordinary_document_renders_as_usual_outside_the_web_process(settings):
    text = "Some *emphasis* and a [link](https://example.com).\n\n```python\nimport os\n```\n\n" * 40
    expected = render_markdown(text)
    settings.MARKDOWN_INLINE_MAX_BYTES = 1_000
    assert render_markdown(text) == expected


def test_control_characters_and_lone_surrogates_do_not_break_the_render():
    assert render_markdown("Bell\x07 and \ud800 surrogate") == "<p>Bell and  surrogate</p>\n"
