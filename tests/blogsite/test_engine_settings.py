"""AIWRITER_BACKENDS and OLLAMA_URLS as the settings read them."""

import pytest

from blogsite.settings.engines import parse_backends


def test_each_host_has_its_dialect_and_the_variable_naming_its_key():
    spec = "ollama=http://gpu1:11434/,openai=http://vllm1:8000/v1, openai=https://api.example.com/v1;key=EXAMPLE_KEY"
    assert parse_backends(spec, ollama_urls=[]) == [
        {"dialect": "ollama", "url": "http://gpu1:11434", "api_key_env": "", "vision_models": []},
        {"dialect": "openai", "url": "http://vllm1:8000/v1", "api_key_env": "", "vision_models": []},
        {"dialect": "openai", "url": "https://api.example.com/v1", "api_key_env": "EXAMPLE_KEY", "vision_models": []},
    ]


def test_vision_names_the_models_of_a_host_that_read_images():
    spec = "openai=http://vllm1:8000/v1;key=VLLM_KEY;vision=qwen2.5-vl-7b | llava-1.6 ,ollama=http://gpu1:11434"
    first, second = parse_backends(spec, ollama_urls=[])
    assert first == {
        "dialect": "openai",
        "url": "http://vllm1:8000/v1",
        "api_key_env": "VLLM_KEY",
        "vision_models": ["qwen2.5-vl-7b", "llava-1.6"],
    }
    assert second["vision_models"] == []


def test_ollama_urls_add_ollama_hosts_and_nothing_means_the_local_default():
    assert parse_backends("openai=http://a:1/v1", ollama_urls=["http://b:11434"])[1] == {
        "dialect": "ollama",
        "url": "http://b:11434",
        "api_key_env": "",
        "vision_models": [],
    }
    assert parse_backends("", ollama_urls=[]) == [
        {"dialect": "ollama", "url": "http://127.0.0.1:11434", "api_key_env": "", "vision_models": []}
    ]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("http://gpu1:11434", "must read dialect=url"),
        ("tgi=http://gpu1:8080", "unknown AI engine dialect"),
        ("openai=ftp://host/v1", "must start with http"),
        ("openai=https://host/v1;token=X", "write key=ENV_VARIABLE or vision=model-a"),
        ("openai=https://host/v1;vision=a||b", "names an empty model"),
        ("openai=https://host/v1;vision=", "write key=ENV_VARIABLE or vision=model-a"),
    ],
)
def test_a_mistyped_setting_is_refused_with_what_to_write(spec, message):
    with pytest.raises(ValueError, match=message):
        parse_backends(spec, ollama_urls=[])
