"""The browser reviewer of prompt optimisation, driven by a real browser (headless Chromium): a person's
round of review and revision through the page, recorded in the session file like any reviewer's."""

import io
import threading

import numpy as np
import pytest
from PIL import Image

from dataengine.core.config import load_config
from dataengine.core.jsonl import read_jsonl
from dataengine.core.qtypes import SEED_TABLE, SEED_TYPES
from dataengine.data.pool import build_synthetic_pool
from dataengine.data.synthetic.world import COLORS
from dataengine.teacher.prompt_opt.browser import BrowserReviewer
from dataengine.teacher.prompt_opt.loop import optimize
from dataengine.teacher.prompt_opt.session import Options, read_session
from tests.browser import chromium, wait_for  # noqa: F401 (a fixture)
from tests.conftest import CONFIGS, shipped_prompts
from tools.fake_openai import FakeOpenAI


@pytest.fixture
def session_setup(tmp_path):
    build_synthetic_pool(tmp_path / "pool", n_images=90, seed=0, qtypes=list(SEED_TYPES), exclude_sha256=set())
    shipped_prompts(tmp_path / "prompts")
    with FakeOpenAI() as server:
        config = load_config(CONFIGS / "openai.yaml", {"teacher": {"base_url": server.base_url}})
        teacher = {**config["teacher"], "prompts": str(tmp_path / "prompts")}
        options = Options(
            qtype=5,
            types=SEED_TABLE,
            rounds=2,
            samples=2,
            target=0.9,
            seed=0,
            sessions=tmp_path / "sessions",
            versions=tmp_path / "versions",
        )
        yield tmp_path, teacher, options


def _text(browser, element_id: str) -> str:
    return browser.find_element("id", element_id).text


def _shows_sample(sample_id: str):
    return lambda browser: sample_id in _text(browser, "where") and browser.find_element("id", "sample").is_displayed()


def test_a_review_round_in_the_browser(session_setup, chromium):  # noqa: F811 (the fixture)
    tmp_path, teacher, options = session_setup
    pool = read_jsonl(tmp_path / "pool" / "annotations.jsonl")
    done: list = []
    with BrowserReviewer(tmp_path / "pool", SEED_TABLE, port=0, say=lambda *_: None) as reviewer:
        run = threading.Thread(
            target=lambda: done.append(
                optimize(options, teacher, tmp_path / "prompts", pool, reviewer, log=lambda *_: None)
            )
        )
        run.start()
        chromium.get(reviewer.url)

        # round 1, sample 1 of 2: the image is on the page (its background colour fills most of it)
        wait_for(chromium, _shows_sample("r1-s000"))
        assert "sample 1 of 2" in _text(chromium, "where") and "Instances Counting" in _text(chromium, "where")
        first = read_jsonl(tmp_path / "sessions" / "5" / "session.jsonl")[1]["samples"][0]
        background = COLORS[first["annotation"]["background"]]
        wait_for(chromium, lambda b: b.execute_script("return document.getElementById('image').complete"))
        shot = np.asarray(Image.open(io.BytesIO(chromium.get_screenshot_as_png())).convert("RGB"))
        assert (np.abs(shot.astype(int) - background).sum(-1) <= 6).sum() > 150 * 150
        assert first["reply"]["instruction"] in _text(chromium, "question")
        chromium.find_element("tag name", "body").send_keys("c")

        # sample 2 of 2: a note, then wrong
        wait_for(chromium, _shows_sample("r1-s001"))
        chromium.find_element("id", "note").send_keys("count only the circles")
        chromium.find_element("id", "wrong").click()

        # 1 of 2 correct is below the target: the revision's diff, accepted with a key
        wait_for(chromium, lambda b: b.find_element("id", "proposal").is_displayed())
        assert "+Rule: count only the circles" in _text(chromium, "diff")
        chromium.find_element("tag name", "body").send_keys("a")

        # round 2 with the new version: both correct, the target is met
        for sample_id in ("r2-s000", "r2-s001"):
            wait_for(chromium, _shows_sample(sample_id))
            chromium.find_element("id", "correct").click()
        run.join(timeout=60)
    assert not run.is_alive()

    session = read_session(tmp_path / "sessions" / "5" / "session.jsonl")
    assert session.end["reason"] == "target"
    round_1 = session.rounds[1]
    assert {k: (v.verdict, v.note) for k, v in round_1.verdicts.items()} == {
        "r1-s000": ("correct", ""),
        "r1-s001": ("wrong", "count only the circles"),
    }
    assert round_1.revision["decision"] == "accepted" and session.end["version"] == round_1.revision["to"]
    assert session.rounds[2].summary["correctness"] == 1.0
    wait_for(chromium, lambda b: b.find_element("id", "done").is_displayed())  # the server stopped
