"""Reads the AI writer's inference hosts from the environment.

`AIWRITER_BACKENDS` lists hosts with their API dialect, comma-separated:

    ollama=http://gpu1:11434,openai=http://vllm1:8000/v1,openai=https://api.example.com/v1;key=OPENAI_API_KEY

`;key=NAME` names the environment variable that holds the host's API key; the key itself is read
when the site talks to the host, so it is never part of the settings, the database or a log.
`;vision=model-a|model-b` names the host's models that read images: OpenAI-compatible engines do
not say so themselves (Ollama's `/api/show` does, and the list adds to what it says).
`OLLAMA_URLS` (comma-separated) is shorthand for Ollama hosts; it adds to `AIWRITER_BACKENDS`.
Without either, the site looks for Ollama on its default port.
"""

DIALECTS = ("ollama", "openai")
DEFAULT_OLLAMA_URL = "http://127.0.0.1:11434"


def backend(dialect: str, url: str, *, api_key_env: str = "", vision_models: list[str] | None = None) -> dict:
    """One host as the settings hold it; the gateway reads these four keys."""
    dialect = dialect.strip().lower()
    if dialect not in DIALECTS:
        raise ValueError(f"unknown AI engine dialect {dialect!r}: use one of {', '.join(DIALECTS)}")
    url = url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"AI engine address {url!r} must start with http:// or https://")
    return {
        "dialect": dialect,
        "url": url,
        "api_key_env": api_key_env.strip(),
        "vision_models": list(vision_models or []),
    }


def parse_backends(spec: str, *, ollama_urls: list[str] | None) -> list[dict]:
    """The hosts of `AIWRITER_BACKENDS` and then `OLLAMA_URLS`; the default Ollama when neither names one."""
    hosts = [_parse_entry(entry) for entry in spec.split(",") if entry.strip()]
    hosts += [backend("ollama", url) for url in ollama_urls or [] if url.strip()]
    return hosts or [backend("ollama", DEFAULT_OLLAMA_URL)]


def _parse_entry(entry: str) -> dict:
    dialect, sep, rest = entry.partition("=")
    if not sep:
        raise ValueError(
            f"AIWRITER_BACKENDS entry {entry.strip()!r} must read dialect=url, e.g. ollama=http://gpu1:11434"
        )
    url, _, options = rest.partition(";")
    api_key_env, vision_models = "", []
    for option in filter(None, (part.strip() for part in options.split(";"))):
        name, _, value = option.partition("=")
        name, value = name.strip(), value.strip()
        if name == "key" and value:
            api_key_env = value
        elif name == "vision" and value:
            vision_models = _model_names(value)
        else:
            raise ValueError(
                f"unknown option {option!r} in AIWRITER_BACKENDS: write key=ENV_VARIABLE or vision=model-a|model-b"
            )
    return backend(dialect, url, api_key_env=api_key_env, vision_models=vision_models)


def _model_names(value: str) -> list[str]:
    names = [name.strip() for name in value.split("|")]
    if not all(names):
        raise ValueError(f"vision={value!r} in AIWRITER_BACKENDS names an empty model: separate names with |")
    return names
