import pytest

from aiwriter.engines import GenerationStats, ModelInfo, Timeouts


def test_stats_read_ollama_field_names_and_durations_in_nanoseconds():
    stats = GenerationStats.from_response(
        {
            "done": True,
            "done_reason": "length",
            "total_duration": 5_043_500_667,
            "load_duration": 5_025_959,
            "prompt_eval_count": 26,
            "prompt_eval_duration": 325_953_000,
            "eval_count": 290,
            "eval_duration": 4_709_213_000,
        }
    )

    assert stats == GenerationStats("length", 5_043_500_667, 5_025_959, 26, 325_953_000, 290, 4_709_213_000)
    assert stats.tokens_per_second == pytest.approx(61.58, abs=0.01)


def test_stats_fields_ollama_omitted_or_garbled_are_none():
    stats = GenerationStats.from_response({"done": True, "eval_count": 3, "eval_duration": "soon", "load_duration": 0})

    assert stats.done_reason is None and stats.total_duration_ns is None and stats.eval_duration_ns is None
    assert stats.load_duration_ns == 0
    assert stats.tokens_per_second is None


def test_stats_as_dict_is_ready_for_the_done_message():
    stats = GenerationStats(done_reason="stop", eval_count=100, eval_duration_ns=3_000_000_000)

    assert stats.as_dict() == {
        "done_reason": "stop",
        "total_duration_ns": None,
        "load_duration_ns": None,
        "prompt_eval_count": None,
        "prompt_eval_duration_ns": None,
        "eval_count": 100,
        "eval_duration_ns": 3_000_000_000,
        "tokens_estimated": False,
        "tokens_per_second": 33.33,
    }


def test_model_info_from_a_tags_entry():
    info = ModelInfo.from_tag(
        {
            "name": "llama3.2:1b",
            "modified_at": "2025-01-02T03:04:05.123456789Z",
            "size": 1_321_098_329,
            "details": {"family": "llama", "parameter_size": "1.2B", "quantization_level": "Q8_0"},
        }
    )

    assert info == ModelInfo("llama3.2:1b", 1_321_098_329, "llama", "1.2B", "Q8_0", "2025-01-02T03:04:05.123456789Z")


def test_model_info_needs_a_name():
    with pytest.raises(ValueError):
        ModelInfo.from_tag({"size": 1})


def test_timeouts_from_settings_keep_defaults_for_missing_names():
    assert Timeouts.from_mapping({"first_token": 20}) == Timeouts(connect=5.0, first_token=20, idle=30.0, total=600.0)
    assert Timeouts.from_mapping(None) == Timeouts()


@pytest.mark.parametrize("values", [{"first_tokn": 1}, {"idle": 0}, {"total": -1}, {"connect": "5"}])
def test_timeouts_refuse_unknown_names_and_non_positive_values(values):
    with pytest.raises(ValueError):
        Timeouts.from_mapping(values)
