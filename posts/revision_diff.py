"""Readable differences between two states of a post: two revisions, or a revision and the post now.

Texts are compared with difflib, by line or by word. The result is plain data (kinds and text);
the template (templates/editor/revision_compare.html) escapes the text as it shows it, so
nothing from a post is ever taken as HTML.
"""

import difflib
import re
from dataclasses import dataclass, field
from typing import Literal

from .models import Post, Revision

Kind = Literal["equal", "insert", "delete"]

# The fields compared, in the order shown, with their labels. The body follows the chosen mode;
# the others are short and compared word by word.
FIELDS = (
    ("title", "Title"),
    ("slug", "Slug"),
    ("excerpt", "Excerpt"),
    ("body", "Body"),
    ("tags", "Tags"),
    ("meta_title", "Meta title"),
    ("meta_description", "Meta description"),
    ("cover_image_url", "Cover image URL"),
    ("canonical_url", "Canonical URL"),
)
MODES = ("line", "word")
# Unchanged lines kept around each change; longer unchanged stretches fold into one row.
CONTEXT_LINES = 3
# A word-by-word comparison of longer texts takes too long to wait for: they are compared by line.
WORD_DIFF_MAX_TOKENS = 40_000
_TOKENS = re.compile(r"\s+|\w+|[^\w\s]", re.UNICODE)


@dataclass(frozen=True)
class Segment:
    kind: Kind
    text: str


@dataclass(frozen=True)
class Line:
    """One row of a line comparison; `folded` > 0 marks a row standing for that many unchanged lines."""

    kind: Kind
    text: str = ""
    old_number: int | None = None
    new_number: int | None = None
    folded: int = 0


@dataclass
class FieldDiff:
    name: str
    label: str
    changed: bool
    mode: str
    segments: list[Segment] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)
    added: int = 0
    removed: int = 0
    note: str = ""


def state_of(source: Post | Revision) -> dict[str, str | None]:
    """The compared fields of a post or a revision as text; None for a field an older revision did not keep."""
    tags = sorted(source.tags.values_list("name", flat=True)) if isinstance(source, Post) else source.tag_names
    state = {name: getattr(source, name) for name, _ in FIELDS if name != "tags"}
    state["tags"] = ", ".join(tags or [])
    return state


def word_segments(old: str, new: str) -> list[Segment]:
    """`old` turned into `new` word by word: unchanged, inserted and deleted runs of text."""
    a, b = _TOKENS.findall(old), _TOKENS.findall(new)
    segments: list[Segment] = []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            _append(segments, "equal", "".join(a[i1:i2]))
            continue
        if tag in ("delete", "replace"):
            _append(segments, "delete", "".join(a[i1:i2]))
        if tag in ("insert", "replace"):
            _append(segments, "insert", "".join(b[j1:j2]))
    return segments


def _append(segments: list[Segment], kind: Kind, text: str) -> None:
    if not text:
        return
    if segments and segments[-1].kind == kind:
        segments[-1] = Segment(kind, segments[-1].text + text)
    else:
        segments.append(Segment(kind, text))


def line_rows(old: str, new: str, *, context: int = CONTEXT_LINES) -> list[Line]:
    """`old` turned into `new` line by line, with long unchanged stretches folded."""
    a, b = old.splitlines(), new.splitlines()
    rows: list[Line] = []
    matcher = difflib.SequenceMatcher(None, a, b)
    opcodes = matcher.get_opcodes()
    for index, (tag, i1, i2, j1, j2) in enumerate(opcodes):
        if tag == "equal":
            rows.extend(_equal_rows(a, i1, i2, j1, context, first=index == 0, last=index == len(opcodes) - 1))
            continue
        if tag in ("delete", "replace"):
            rows.extend(Line("delete", a[i], old_number=i + 1) for i in range(i1, i2))
        if tag in ("insert", "replace"):
            rows.extend(Line("insert", b[j], new_number=j + 1) for j in range(j1, j2))
    return rows


def _equal_rows(a: list[str], i1: int, i2: int, j1: int, context: int, *, first: bool, last: bool) -> list[Line]:
    def row(i: int) -> Line:
        return Line("equal", a[i], old_number=i + 1, new_number=j1 + (i - i1) + 1)

    keep_before = 0 if first else context  # lines kept after the change above
    keep_after = 0 if last else context  # lines kept before the change below
    if i2 - i1 <= keep_before + keep_after + 1:
        return [row(i) for i in range(i1, i2)]
    head = [row(i) for i in range(i1, i1 + keep_before)]
    tail = [row(i) for i in range(i2 - keep_after, i2)]
    return [*head, Line("equal", folded=i2 - i1 - keep_before - keep_after), *tail]


def compare(old: dict[str, str | None], new: dict[str, str | None], *, mode: str = "line") -> list[FieldDiff]:
    """Each compared field of two states, with what changed between them."""
    diffs = []
    for name, label in FIELDS:
        before, after = old.get(name), new.get(name)
        if before is None or after is None:
            note = "Not kept in revisions saved before this field was; it cannot be compared."
            diffs.append(FieldDiff(name=name, label=label, changed=False, mode="word", note=note))
            continue
        diff = FieldDiff(name=name, label=label, changed=before != after, mode="word")
        if diff.changed:
            field_mode = mode if name == "body" else "word"
            if (
                field_mode == "word"
                and len(_TOKENS.findall(before)) + len(_TOKENS.findall(after)) > WORD_DIFF_MAX_TOKENS
            ):
                field_mode = "line"
                diff.note = "This text is long, so it is compared line by line."
            diff.mode = field_mode
            if field_mode == "word":
                diff.segments = word_segments(before, after)
                diff.added = sum(len(s.text.split()) for s in diff.segments if s.kind == "insert")
                diff.removed = sum(len(s.text.split()) for s in diff.segments if s.kind == "delete")
            else:
                diff.lines = line_rows(before, after)
                diff.added = sum(1 for line in diff.lines if line.kind == "insert")
                diff.removed = sum(1 for line in diff.lines if line.kind == "delete")
        diffs.append(diff)
    return diffs
