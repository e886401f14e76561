"""AIWRITER_BACKENDS and OLLAMA_URLS as the settings read them."""

import pytest

from blogsite.settings.engines import parse_backends


def test_each_host_has_its_dialect_and_the_variable_naming_its_key():
    spec = "ollama=http://gpu1:11434/,openai=http://vllm1:8000/v1, openai=https://api.example.com/v1;key=EXAMPLE_KEY"
    assert parse_backends(spec, ollama_urls=[]) == [
        {"dialect": "ollama", "url": "http://gpu1:11434", "api_key_env": ""},
        {"dialect": "openai", "url": "http://vllm1:8000/v1", "api_key_env": ""},
        {"dialect": "openai", "url": "https://api.example.com/v1", "api_key_env": "EXAMPLE_KEY"},
    ]


def test_ollama_urls_add_ollama_hosts_and_nothing_means_the_local_default():
    assert parse_backends("openai=http://a:1/v1", ollama_urls=["http://b:11434"])[1] == {
        "dialect": "ollama",
        "url": "http://b:11434",
        "api_key_env": "",
    }
    assert parse_backends("", ollama_urls=[]) == [
        {"dialect": "ollama", "url": "http://127.0.0.1:11434", "api_key_env": ""}
    ]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("http://gpu1:11434", "must read dialect=url"),
        ("tgi=http://gpu1:8080", "unknown AI engine dialect"),
        ("openai=ftp://host/v1", "must start with http"),
        ("openai=https://host/v1;token=X", "only key=ENV_VARIABLE"),
    ],
)
def test_a_mistyped_setting_is_refused_with_what_to_write(spec, message):
    with pytest.raises(ValueError, match=message):
        parse_backends(spec, ollama_urls=[])
