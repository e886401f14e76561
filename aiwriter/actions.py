"""The AI actions an editor can run: what each needs, how the model is asked, how long the answer may be."""

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from .models import Action


@dataclass(frozen=True, slots=True)
class ActionSpec:
    action: str
    # The placeholder that the message's `text` fills (for chat, the editor's new message).
    text_fills: str
    # Placeholders that must not be empty, with the message an editor sees when one is.
    required: Mapping[str, str]
    # Ollama options sent unless the editor overrides them.
    model_options: Mapping[str, Any]
    # Default and largest {max_length}, in characters; None when the action has no length.
    max_length: int | None = None
    max_length_cap: int | None = None
    # Cut the streamed text at max_length, on a word boundary, and stop the model there.
    cut_to_max_length: bool = False
    # Same input, same model, same answer is acceptable, so a response cache may serve it.
    cacheable: bool = False
    # Earlier turns of the editor's conversation go into the prompt.
    keeps_history: bool = False
    default_instruction: str = ""
    # The request names a library image, sent to the model with the prompt (aiwriter/alt_text.py).
    reads_image: bool = False


_NEEDS_BODY = {"body": "There is no text to work from yet: write some of the post first."}


def _options(**values: Any) -> Mapping[str, Any]:
    return MappingProxyType(values)


ACTIONS: Mapping[str, ActionSpec] = MappingProxyType(
    {
        Action.DRAFT: ActionSpec(
            action=Action.DRAFT,
            text_fills="instruction",
            required={"title": "Give the post a title first: the draft is written from the title and your notes."},
            model_options=_options(temperature=0.8, num_predict=1500),
            default_instruction="No notes: choose a sensible angle for the title.",
        ),
        Action.CONTINUE: ActionSpec(
            action=Action.CONTINUE,
            text_fills="body",
            required=_NEEDS_BODY,
            model_options=_options(temperature=0.8, num_predict=400),
        ),
        Action.REWRITE: ActionSpec(
            action=Action.REWRITE,
            text_fills="selection",
            required={"selection": "Select the passage you want rewritten first."},
            model_options=_options(temperature=0.5, num_predict=800),
            default_instruction="Make it clearer and more concise.",
        ),
        Action.SUMMARIZE: ActionSpec(
            action=Action.SUMMARIZE,
            text_fills="body",
            required=_NEEDS_BODY,
            model_options=_options(temperature=0.3, num_predict=250),
            max_length=300,
            max_length_cap=1000,
            cut_to_max_length=True,
            cacheable=True,
        ),
        Action.TITLES: ActionSpec(
            action=Action.TITLES,
            text_fills="body",
            required=_NEEDS_BODY,
            model_options=_options(temperature=0.9, num_predict=200),
            max_length=70,
            max_length_cap=200,
        ),
        Action.META_DESCRIPTION: ActionSpec(
            action=Action.META_DESCRIPTION,
            text_fills="body",
            required=_NEEDS_BODY,
            model_options=_options(temperature=0.3, num_predict=120),
            max_length=160,
            max_length_cap=160,
            cut_to_max_length=True,
            cacheable=True,
        ),
        Action.TAGS: ActionSpec(
            action=Action.TAGS,
            text_fills="body",
            required=_NEEDS_BODY,
            model_options=_options(temperature=0.2, num_predict=60),
            cacheable=True,
        ),
        Action.CHAT: ActionSpec(
            action=Action.CHAT,
            text_fills="instruction",
            required={"instruction": "Type a message for the AI writer first."},
            model_options=_options(temperature=0.7, num_predict=800),
            keeps_history=True,
        ),
        # Cacheable: the prompt holds the image itself, so another image is another request.
        Action.ALT_TEXT: ActionSpec(
            action=Action.ALT_TEXT,
            text_fills="instruction",
            required={},
            model_options=_options(temperature=0.2, num_predict=200),
            max_length=250,
            max_length_cap=1000,
            cut_to_max_length=True,
            cacheable=True,
            default_instruction="None.",
            reads_image=True,
        ),
    }
)


@dataclass(frozen=True, slots=True)
class RewritePreset:
    """A rewrite an editor picks by name from the in-place toolbar; the server owns its instruction."""

    name: str
    label: str
    instruction: str


def _presets(*presets: RewritePreset) -> Mapping[str, RewritePreset]:
    return MappingProxyType({preset.name: preset for preset in presets})


_KEEP = "Keep its meaning, its facts, its Markdown formatting and the language it is written in."

# The presets of the in-place toolbar, in the order it shows them. "Continue from here" is the
# continue action on the text up to the selection, so it needs no preset.
REWRITE_PRESETS: Mapping[str, RewritePreset] = _presets(
    RewritePreset("shorter", "Shorter", f"Make it shorter: keep the key points and cut the rest. {_KEEP}"),
    RewritePreset(
        "longer",
        "Longer",
        f"Make it longer: develop what it says with detail and an example, inventing no new facts. {_KEEP}",
    ),
    RewritePreset(
        "simpler", "Simpler", f"Make it simpler: plain words and short sentences that anyone can follow. {_KEEP}"
    ),
    RewritePreset(
        "fix_grammar",
        "Fix spelling and grammar",
        "Correct only the spelling, grammar and punctuation. Change nothing else: keep every word that is "
        "right, the order of the sentences, the formatting and the language.",
    ),
    RewritePreset("tone_formal", "Tone: formal", f"Change the tone to formal and professional. {_KEEP}"),
    RewritePreset("tone_friendly", "Tone: friendly", f"Change the tone to warm, friendly and conversational. {_KEEP}"),
    RewritePreset(
        "tone_confident", "Tone: confident", f"Change the tone to confident and direct, without hedging. {_KEEP}"
    ),
)


def preset_choices() -> list[dict[str, str]]:
    """The rewrite presets for the panel's toolbar, with their labels."""
    return [{"value": preset.name, "label": preset.label} for preset in REWRITE_PRESETS.values()]


def action_get(name: str) -> ActionSpec | None:
    return ACTIONS.get(name)


def action_choices() -> list[dict[str, str]]:
    """The actions in the order the panel lists them, with their labels."""
    return [{"value": value, "label": label} for value, label in Action.choices]
