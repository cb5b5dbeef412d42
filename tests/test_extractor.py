"""The LLM choice extractor of `generate` scoring: the real openai client against the fake server,
wired through pipeline.evaluate; counts per rule, failures, the key kept out of every output."""

from __future__ import annotations

import json
import logging
import os

import polars as pl
import pytest

from dataengine import pipeline
from dataengine.core.config import ConfigError, validate_config
from dataengine.data.benchmark import write_items
from dataengine.endpoint.client import result_knobs
from dataengine.eval import evaluate as evaluate_stage
from dataengine.eval.evaluate import extract_choice
from dataengine.eval.extractor import ExtractorError, build_extractor, extraction_messages, parse_letter
from dataengine.model.student import save_student
from tests.conftest import client_timeout
from tests.tiny import COLOURS, colour_images, tiny_student
from tools.fake_openai import FakeOpenAI, FakeSettings

KEY_ENV = "DATAENGINE_TEST_EXTRACTOR_KEY"
SECRET = "sk-extractor-secret-5f3a9c"
OPTIONS = list(COLOURS)  # red, green, blue, yellow
# id -> (split, answer, the model's scripted reply, the rule expected to read it, its prediction)
REPLIES = {
    "d-letter": ("dev", "B", "B", "letter", "B"),
    "d-option": ("dev", "B", "It is green.", "option_text", "B"),
    "d-llm": ("dev", "A", "reddish, I would say", "llm", "A"),  # "red" only inside a word
    "t-letter": ("test", "C", "C.", "letter", "C"),
    "t-llm": ("test", "D", "yellowish", "llm", "D"),
    "t-none": ("test", "C", "purple", "none", None),  # no option at all: the extractor answers Z
}


@pytest.fixture(autouse=True)
def no_openai_env(monkeypatch):
    """The client reads OPENAI_* variables (OPENAI_BASE_URL would redirect it); none may leak in."""
    for name in [n for n in os.environ if n.startswith("OPENAI_")]:
        monkeypatch.delenv(name)
    monkeypatch.delenv(KEY_ENV, raising=False)


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    """A saved tiny student and a benchmark of one question per scripted reply."""
    root = tmp_path_factory.mktemp("extractor")
    model, processor = tiny_student()
    save_student(model, processor, root / "model")
    (root / "bench").mkdir()
    image = colour_images(root / "bench")["red"]
    rows = [
        {
            "id": item_id,
            "image": image,
            "qtype": 3,
            "question": f"Which option? ({item_id})",
            "options": OPTIONS,
            "answer": answer,
            "split": split,
        }
        for item_id, (split, answer, *_) in REPLIES.items()
    ]
    write_items(root / "bench", rows)
    return root


@pytest.fixture
def scripted_replies(monkeypatch):
    """The model 'replies' what REPLIES scripts for each question; everything else is the real path."""
    by_question = {f"Which option? ({item_id})": reply for item_id, (_, _, reply, *_) in REPLIES.items()}

    def replies(model, processor, batch):
        return [by_question[q] for q in batch["questions"]]

    monkeypatch.setattr(evaluate_stage, "generate_replies", replies)


def extractor_cfg(base_url: str | None, **knobs) -> dict:
    section = {
        "kind": "openai",
        "model": "fake-extractor",
        "base_url": base_url,
        "api_key_env": KEY_ENV,
        "timeout_s": client_timeout(),
        "max_retries": 0,
        **knobs,
    }
    return validate_config({"evaluate": {"extractor": section}})["evaluate"]["extractor"]


def run_evaluate(root, out, extractor: dict | None, scoring: str = "generate", model_dir=None) -> dict:
    out.mkdir(exist_ok=True)
    pipeline.evaluate(
        model_dir=str(model_dir or root / "model"),
        items=str(root / "bench" / "items.parquet"),
        out_predictions=str(out / "predictions.parquet"),
        out_metrics=str(out / "metrics.json"),
        out_bad_cases=str(out / "bad_cases.jsonl"),
        scoring=scoring,
        batch_size=4,
        threads=1,
        extractor=extractor,
    )
    return json.loads((out / "metrics.json").read_text())


# ---------------------------------------------------------------- config


def test_config_defaults_to_no_extractor_and_validates_the_new_keys():
    section = validate_config({})["evaluate"]["extractor"]
    assert section == {
        "kind": "none",
        "model": "gpt-4o-mini",
        "base_url": None,
        "api_key_env": "OPENAI_API_KEY",
        "timeout_s": 60,
        "max_retries": 6,
    }
    assert build_extractor(section) is None and build_extractor(None) is None
    # the rule's params: what decides the answers; the key's variable, timeout and retries rerun nothing
    assert result_knobs(section) == {"kind": "none", "model": "gpt-4o-mini", "base_url": None}
    for bad, message in [
        ({"kind": "anthropic"}, r"evaluate.extractor.kind: 'anthropic' is not one of \['none', 'openai'\]"),
        ({"api_key": SECRET}, r"evaluate.extractor: Additional properties are not allowed \('api_key'"),
        ({"timeout_s": 0}, "evaluate.extractor.timeout_s: 0 is less than or equal to the minimum of 0"),
        ({"max_retries": -1}, "evaluate.extractor.max_retries: -1 is less than the minimum of 0"),
        ({"api_key_env": ""}, "evaluate.extractor.api_key_env: '' should be non-empty"),
    ]:
        with pytest.raises(ConfigError, match=message):
            validate_config({"evaluate": {"extractor": bad}})


# ---------------------------------------------------------------- prompt and answer parsing


def test_the_prompt_shows_question_lettered_options_and_reply_and_the_answer_is_parsed_strictly():
    system, user = extraction_messages("What colour?", ["red", "green", "blue"], "reddish")
    assert system["role"] == "system" and "Z" in system["content"]
    assert "<question>What colour?</question>" in user["content"] and "<reply>reddish</reply>" in user["content"]
    assert "<options>\nA. red\nB. green\nC. blue\n</options>" in user["content"]
    assert "one of A, B, C or Z" in user["content"]
    for content, expected in [
        ("B", "B"),
        (" (C) ", "C"),
        ("A.", "A"),
        ("Z", None),
        ("D", None),
        ("b", None),
        ("B or C", None),
        ("The answer is B", None),
        ("", None),
        (None, None),
    ]:
        assert parse_letter(content, 3) == expected, content


def test_the_fake_server_reads_the_reply_and_its_content_faults_still_apply(monkeypatch):
    monkeypatch.setenv(KEY_ENV, SECRET)
    with FakeOpenAI(FakeSettings(api_key=SECRET)) as server:
        extractor = build_extractor(extractor_cfg(server.base_url))
        assert extractor("q", OPTIONS, "reddish") == "A"
        assert extractor("q", OPTIONS, "a blueish tint") == "C"
        assert extractor("q", OPTIONS, "red or green") is None  # two options: Z
        assert extractor("q", OPTIONS, "purple") is None
        assert extractor.stats() == {"kind": "openai", "model": "fake-extractor", "asked": 4}
        assert SECRET not in repr(extractor)
    for fault, expected in [
        ("malformed", None),
        ("schema_invalid", None),
        ("empty", None),
        ("truncated", None),
        ("wrong_answer", "B"),
    ]:
        with FakeOpenAI(FakeSettings(script=(fault,))) as server:
            assert build_extractor(extractor_cfg(server.base_url))("q", OPTIONS, "reddish") == expected, fault
            assert server.stats()["faults"] == {fault: 1}


def test_the_rules_come_first_and_the_llm_only_reads_what_they_cannot(monkeypatch):
    monkeypatch.setenv(KEY_ENV, SECRET)
    with FakeOpenAI() as server:
        extractor = build_extractor(extractor_cfg(server.base_url))
        assert extract_choice("B", OPTIONS, "q", extractor) == ("B", "letter")
        assert extract_choice("It is blue.", OPTIONS, "q", extractor) == ("C", "option_text")
        assert server.stats()["requests"] == 0
        assert extract_choice("greenish", OPTIONS, "q", extractor) == ("B", "llm")
        assert extract_choice("purple", OPTIONS, "q", extractor) == (None, "none")
        assert server.stats()["requests"] == 2 and extractor.asked == 2
    for answer in (None, "", "AB", "E", "b"):  # whatever an Extractor returns that is no option's letter
        assert extract_choice("purple", OPTIONS, "q", lambda *_, answer=answer: answer) == (None, "none")


# ---------------------------------------------------------------- through pipeline.evaluate


def test_unreadable_replies_are_read_by_the_llm_and_every_rule_is_counted(
    bench, scripted_replies, tmp_path, monkeypatch, caplog
):
    monkeypatch.setenv(KEY_ENV, SECRET)
    caplog.set_level(logging.DEBUG)
    with FakeOpenAI(FakeSettings(api_key=SECRET)) as server:
        metrics = run_evaluate(bench, tmp_path, extractor_cfg(server.base_url))
        assert server.stats()["requests"] == 3 and server.stats()["refused"] == 0  # the llm and none items only
    predictions = pl.read_parquet(tmp_path / "predictions.parquet")
    assert predictions["id"].to_list() == list(REPLIES)
    assert predictions["extraction"].to_list() == [rule for *_, rule, _ in REPLIES.values()]
    assert predictions["prediction"].to_list() == [letter for *_, letter in REPLIES.values()]
    assert predictions["correct"].to_list() == [True] * 5 + [False]
    assert metrics["extraction"] == {"letter": 2, "llm": 2, "none": 1, "option_text": 1}
    assert metrics["splits"]["dev"]["extraction"] == {"letter": 1, "llm": 1, "option_text": 1}
    assert metrics["splits"]["test"]["extraction"] == {"letter": 1, "llm": 1, "none": 1}
    assert metrics["extractor"] == {"kind": "openai", "model": "fake-extractor", "asked": 3}
    assert metrics["splits"]["test"]["overall"]["acc"] == pytest.approx(66.667)
    # the key is in no output and no log line; only the variable's name is configured anywhere
    for name in ("metrics.json", "predictions.parquet", "bad_cases.jsonl"):
        assert SECRET.encode() not in (tmp_path / name).read_bytes(), name
    assert SECRET not in caplog.text and "asked about 3 replies, read 2" in caplog.text


def test_without_the_extractor_the_same_replies_are_none(bench, scripted_replies, tmp_path):
    metrics = run_evaluate(bench, tmp_path, validate_config({})["evaluate"]["extractor"])
    assert metrics["extraction"] == {"letter": 2, "none": 3, "option_text": 1} and "extractor" not in metrics


def test_an_unusable_extractor_answer_leaves_the_item_none(bench, scripted_replies, tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, SECRET)
    with FakeOpenAI(FakeSettings(script=("malformed",))) as server:  # prose instead of a letter
        metrics = run_evaluate(bench, tmp_path, extractor_cfg(server.base_url))
        assert server.stats()["faults"] == {"malformed": 3}
    assert metrics["extraction"] == {"letter": 2, "none": 3, "option_text": 1}
    assert metrics["extractor"]["asked"] == 3


def test_a_missing_key_fails_before_scoring_naming_the_variable(tmp_path):
    cfg = extractor_cfg(None)  # the OpenAI API itself: a key is required
    missing = rf"environment variable {KEY_ENV} \(evaluate.extractor.api_key_env\) is not set"
    with pytest.raises(ValueError, match=missing):
        run_evaluate(tmp_path, tmp_path / "out", cfg, model_dir=tmp_path / "no-model")  # nothing is loaded first
    assert not (tmp_path / "out" / "metrics.json").exists()
    # other scorings do not read generated replies: the extractor is not built, its key not needed
    with pytest.raises(FileNotFoundError, match="items.parquet"):
        run_evaluate(tmp_path, tmp_path / "out", cfg, scoring="letter")


def test_a_failing_endpoint_stops_the_job_loudly_and_writes_nothing(bench, scripted_replies, tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, SECRET)
    with FakeOpenAI(FakeSettings(script=("server_error",))) as server:  # one 500 per request, retried by the client
        retried = run_evaluate(bench, tmp_path / "retried", extractor_cfg(server.base_url, max_retries=1))
        assert retried["extraction"]["llm"] == 2 and server.stats()["faults"] == {"server_error": 3}
    with FakeOpenAI(FakeSettings(api_key="sk-other")) as server:  # our key is refused: no retry helps
        refused = r"evaluate.extractor: fake-extractor at .*: AuthenticationError: Error code: 401"
        with pytest.raises(ExtractorError, match=refused) as err:
            run_evaluate(bench, tmp_path / "refused", extractor_cfg(server.base_url))
        assert SECRET not in str(err.value)
    unreachable = server.base_url  # stopped: nothing listens there now
    with pytest.raises(ExtractorError, match=r"APIConnectionError.*Evaluation stops rather than count unread replies"):
        run_evaluate(bench, tmp_path / "down", extractor_cfg(unreachable))
    assert not any((tmp_path / out / "metrics.json").exists() for out in ("refused", "down"))
