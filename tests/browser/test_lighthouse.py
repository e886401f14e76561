"""Lighthouse (tests/browser/package.json) on Debian's Chromium, with its phone profile: the reader
pages people arrive at score 95 or more in every category."""

import json
import os
import subprocess

import pytest

from tests.browser.conftest import BROWSER_DIR, CHROMIUM, CHROMIUM_FLAGS

pytestmark = [pytest.mark.integration, pytest.mark.browser]

LIGHTHOUSE = BROWSER_DIR / "node_modules" / ".bin" / "lighthouse"
CATEGORIES = ("performance", "accessibility", "best-practices", "seo")
LEAST_SCORE = 95


def lighthouse(url: str, report) -> dict:
    """Lighthouse's report on the page; its default form factor is a phone on a throttled network."""
    finished = subprocess.run(
        [
            LIGHTHOUSE,
            url,
            "--quiet",
            "--output=json",
            f"--output-path={report}",
            f"--only-categories={','.join(CATEGORIES)}",
            f"--chrome-flags={' '.join(CHROMIUM_FLAGS)}",
        ],  # fmt: skip
        env={**os.environ, "CHROME_PATH": CHROMIUM},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    return json.loads(report.read_text())


def failed_audits(result: dict, category: str) -> list[str]:
    audits = result["audits"]
    refs = result["categories"][category]["auditRefs"]
    return [
        f"{audits[ref['id']]['id']}: {audits[ref['id']]['title']}"
        for ref in refs
        if ref["weight"] and audits[ref["id"]]["score"] is not None and audits[ref["id"]]["score"] < 1
    ]


@pytest.mark.parametrize("page", ["index", "post", "tag"])
def test_reader_pages_score_well_on_a_phone(live_site, tmp_path, page):
    path = {
        "index": "/",
        "post": f"/posts/{live_site.facts['post_slug']}/",
        "tag": f"/tags/{live_site.facts['tag_slug']}/",
    }
    result = lighthouse(live_site.url + path[page], tmp_path / "report.json")
    assert result["configSettings"]["formFactor"] == "mobile"
    assert not result.get("runtimeError"), result["runtimeError"]
    scores = {category: round(result["categories"][category]["score"] * 100) for category in CATEGORIES}
    low = {category: failed_audits(result, category) for category, score in scores.items() if score < LEAST_SCORE}
    assert not low, f"{scores}: {low}"
