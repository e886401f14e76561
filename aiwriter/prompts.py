"""Filling prompt templates with the editor's input.

Templates are edited by staff in the admin, and the values come from editors, so rendering
replaces only the known `{name}` placeholders, in one pass. `str.format` would let a template
reach object attributes (`{title.__class__}`) and would trip over any other brace, and a
second pass would expand placeholders that an editor typed into their own text.
"""

import re
from collections.abc import Iterable, Mapping

PLACEHOLDERS = ("title", "body", "selection", "instruction", "max_length", "existing_tags")

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def unknown_placeholders(template: str) -> list[str]:
    """Names in `{name}` form that are not placeholders, in order of first use."""
    names = dict.fromkeys(match[1] for match in _PLACEHOLDER.finditer(template or ""))
    return [name for name in names if name not in PLACEHOLDERS]


def render(template: str, values: Mapping[str, str]) -> str:
    """The template with each known placeholder replaced by its value (empty when missing)."""

    def replace(match: re.Match) -> str:
        name = match[1]
        if name not in PLACEHOLDERS:
            return match[0]
        return str(values.get(name, ""))

    return _PLACEHOLDER.sub(replace, template).strip()


def build_messages(
    *, system: str, template: str, values: Mapping[str, str], history: Iterable[Mapping[str, str]] = ()
) -> list[dict[str, str]]:
    """Chat messages for Ollama: the system message, earlier turns, then this request."""
    messages = [{"role": "system", "content": render(system, values)}]
    messages.extend({"role": turn["role"], "content": turn["content"]} for turn in history)
    messages.append({"role": "user", "content": render(template, values)})
    return messages
