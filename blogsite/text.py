"""Text people typed, made safe to store and to put into any page or feed.

Control characters have no place in a blog's text, and XML 1.0 (the RSS and Atom feeds)
cannot carry most of them at all: one in a title used to make the feeds fail for everyone.
The services of every app remove them before saving, and the feeds remove them again from
rows saved before that.
"""

import re

# C0 controls but tab, line feed and carriage return; DEL and the C1 controls; lone surrogates
# (JSON's \ud800 escapes make them); and the two noncharacters XML forbids.
_CONTROL_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_LINE_BREAKS_AND_TABS = re.compile("[\t\n\r]")


def without_control_characters(text: str, *, multiline: bool = True) -> str:
    """`text` without control characters; a one-line field's tabs and line breaks become spaces."""
    text = _CONTROL_CHARACTERS.sub("", text or "")
    return text if multiline else _LINE_BREAKS_AND_TABS.sub(" ", text)
