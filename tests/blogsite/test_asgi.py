"""The ASGI process's runtime tuning, checked in a fresh interpreter as a server would start it."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_server_process_hands_the_interpreter_lock_to_its_event_loop_quickly_and_collects_rarely():
    probe = (
        "import gc, sys, blogsite.asgi; print(sys.getswitchinterval(), gc.get_threshold()[2], gc.get_freeze_count())"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "blogsite.settings.test"}

    started = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True)

    assert started.returncode == 0, started.stderr[-2000:]
    switch, full_collection_after, frozen = started.stdout.split()
    assert float(switch) == 0.001
    assert int(full_collection_after) == 1000
    assert int(frozen) > 10_000  # the site as loaded at start-up is never walked by the collector again
