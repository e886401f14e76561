from aiwriter.output import OutputShaper


def shape(pieces, limit=None):
    shaper = OutputShaper(limit=limit)
    shown = [shaper.feed(piece) for piece in pieces]
    shown.append(shaper.finish())
    return "".join(shown), shaper


def test_leading_blank_space_is_dropped_and_the_rest_passes_through():
    text, _ = shape(["\n\n ", " Hello", " world", "\n\nNext paragraph."])
    assert text == "Hello world\n\nNext paragraph."


def test_a_limit_cuts_on_the_last_whole_word_and_marks_the_shaper_full():
    words = ["The", " quick", " brown", " fox", " jumps", " over"]
    text, shaper = shape(words, limit=17)
    assert text == "The quick brown"
    assert shaper.full


def test_text_within_the_limit_is_kept_whole_without_trailing_space():
    text, shaper = shape(["Short", " and", " sweet.", "  "], limit=160)
    assert text == "Short and sweet."
    assert not shaper.full


def test_a_word_split_across_pieces_is_held_back_until_complete():
    shaper = OutputShaper(limit=100)
    assert shaper.feed("Hel") == ""
    assert shaper.feed("lo wor") == "Hello"
    assert shaper.feed("ld") == ""
    assert shaper.finish() == " world"


def test_one_overlong_word_is_cut_hard_rather_than_showing_nothing():
    text, _ = shape(["x" * 50], limit=20)
    assert text == "x" * 20
