import pytest

from blogsite.json_input import MAX_INTEGER, JsonInputError, json_parse


def test_ordinary_json_is_read_as_json_loads_reads_it():
    assert json_parse(b'{"a": [1, -2, 3.5, "x", null, true]}') == {"a": [1, -2, 3.5, "x", None, True]}
    assert json_parse(f"[{MAX_INTEGER}, {-MAX_INTEGER - 1}]") == [MAX_INTEGER, -MAX_INTEGER - 1]


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        ("[" * 100_000, "nested too deeply"),
        ('{"a": ' * 50_000 + "1" + "}" * 50_000, "nested too deeply"),
        (f"[{MAX_INTEGER + 1}]", "64 bits"),
        (f"[{-MAX_INTEGER - 2}]", "64 bits"),
        ("[NaN]", "not valid JSON"),
        ("[Infinity]", "not valid JSON"),
        ("[1e400]", "not valid JSON"),
    ],
)
def test_hostile_json_is_refused_with_a_message(raw, fragment):
    with pytest.raises(JsonInputError) as error:
        json_parse(raw)
    assert fragment in str(error.value)
