"""The openai teacher against the local fake server: faults, cache, budget, batch, estimate, secrets."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest
import yaml

from dataengine import pipeline, validate
from dataengine.config import validate_config
from dataengine.fake_openai import FakeOpenAI, FakeSettings
from dataengine.openai_teacher.cache import ResponseCache, request_key
from dataengine.openai_teacher.generation import estimate, generate_openai
from dataengine.openai_teacher.limiter import Budget, RateLimiter
from dataengine.openai_teacher.prompts import load_prompts, render_messages
from dataengine.openai_teacher.runner import TeacherError
from dataengine.openai_teacher.settings import REPO
from tests.conftest import make_queries

KEY_ENV = "DATAENGINE_TEST_TEACHER_KEY"


@pytest.fixture(autouse=True)
def no_openai_env(monkeypatch):
    """The client reads OPENAI_* variables; none may leak in from the machine."""
    for name in [n for n in __import__("os").environ if n.startswith("OPENAI_")]:
        monkeypatch.delenv(name)


def teacher_cfg(server: FakeOpenAI, cache, **knobs) -> dict:
    cfg = {"kind": "openai", "model": "fake-teacher", "base_url": server.base_url, "cache": str(cache),
           "api_key_env": KEY_ENV, "timeout_s": 2.0, "in_flight": 8, **knobs}  # fmt: skip
    return validate_config({"teacher": cfg})["teacher"]


def usable(generation, queries) -> int:
    accepted, _ = validate.validate(generation.responses, queries, iteration=1, prompt_version="x")
    return len(accepted)


# ---------------------------------------------------------------- prompts, cache, limits


def test_prompts_render_the_annotation_type_and_bad_cases_and_are_versioned_by_content(tmp_path):
    query = {**make_queries(n_per_type=1)[2], "in_context": [{"question": "Q?", "options": ["a", "b", "c", "d"], "answer": "C", "image": "x"}]}
    prompts = load_prompts(REPO / "config" / "prompts")
    system, user = render_messages(prompts, query)
    assert system["role"] == "system" and "JSON" in system["content"]
    assert "Question type: 3 (Instance Attributes)" in user["content"]
    assert "Options: A. a; B. b; C. c; D. d" in user["content"] and "Correct answer: C" in user["content"]
    shown = json.loads(user["content"].split("<annotation>")[1].split("</annotation>")[0])
    assert shown["objects"] == query["annotation"]["objects"] and "qtypes" not in shown and "sha256" not in shown
    edited = tmp_path / "prompts"
    edited.mkdir()
    for path in (REPO / "config" / "prompts").iterdir():
        (edited / path.name).write_text(path.read_text())
    assert load_prompts(edited).version == prompts.version
    (edited / "system.md").write_text(prompts.system + "\nBe brief.")
    assert load_prompts(edited).version != prompts.version
    (edited / "example.md").unlink()
    with pytest.raises(ValueError, match=r"prompt file .*example\.md: cannot read"):
        load_prompts(edited)


def test_cache_key_is_content_addressed_and_entries_survive_reopening(tmp_path):
    messages = [{"role": "user", "content": "hi"}]
    key = request_key("m", messages, {"temperature": 0.7})
    assert key == request_key("m", [dict(messages[0])], {"temperature": 0.7})
    assert len({key, request_key("m2", messages, {"temperature": 0.7}), request_key("m", messages, {"temperature": 0})}) == 3
    from dataengine.openai_teacher.cache import CachedReply

    ResponseCache(tmp_path / "c.sqlite").put(key, "m", CachedReply("{}", 10, 2))
    ResponseCache(tmp_path / "c.sqlite").put(key, "m", CachedReply("other", 1, 1))  # first one wins
    assert ResponseCache(tmp_path / "c.sqlite").get(key).content == "{}"


def test_rate_limiter_spaces_requests_and_pauses_everyone_after_a_429():
    now = [0.0]
    limiter = RateLimiter(rpm=60, tpm=0, clock=lambda: now[0])  # 1 request/s, 10 s of burst
    waits = [limiter.reserve(100) for _ in range(12)]
    assert waits[:10] == [0.0] * 10 and waits[10:] == pytest.approx([1.0, 2.0])
    tokens = RateLimiter(rpm=0, tpm=600, clock=lambda: now[0])  # 10 tokens/s, bucket of 100
    assert tokens.reserve(100) == 0.0 and tokens.reserve(50) == pytest.approx(5.0)
    limiter.pause(30)
    assert limiter.reserve(1) == pytest.approx(30.0)
    budget = Budget(1.0)
    assert budget.reserve(0.6) and not budget.reserve(0.6)
    budget.settle(0.6, 0.1)
    assert budget.reserve(0.6) and budget.spent == pytest.approx(0.1)


# ---------------------------------------------------------------- faults


@pytest.mark.parametrize(
    "fault, retry_reason, content_reason",
    [
        ("rate_limit", "rate_limited", None),
        ("server_error", "http_500", None),
        ("hang", "timeout", None),
        ("malformed", None, "malformed_json"),
        ("schema_invalid", None, "schema"),
        ("wrong_answer", None, "wrong_answer"),
        ("markup", None, "markup"),
        ("truncated", None, "truncated"),
        ("empty", None, "empty"),
    ],
)
def test_each_fault_is_retried_and_recovered(tmp_path, fault, retry_reason, content_reason):
    queries = make_queries(n_per_type=1)[:4]
    with FakeOpenAI(FakeSettings(script=(fault,), hang_s=1.0)) as server:
        generation = generate_openai(queries, teacher_cfg(server, tmp_path / "c.sqlite", timeout_s=0.3), seed=0)
        assert server.stats()["requests"] == 8 and server.stats()["faults"] == {fault: 4}
    assert usable(generation, queries) == 4 and generation.stats["failures"] == {}
    assert generation.stats["retries"] == ({retry_reason: 4} if retry_reason else {})
    assert generation.stats["content_failures"] == ({content_reason: 4} if content_reason else {})


def test_content_failures_that_persist_are_recorded_with_their_reason_and_not_cached(tmp_path):
    queries = make_queries(n_per_type=1)[:3]
    with FakeOpenAI(FakeSettings(script=("truncated", "wrong_answer"))) as server:
        cfg = teacher_cfg(server, tmp_path / "c.sqlite", content_retries=1)
        generation = generate_openai(queries, cfg, seed=0)
        assert [r["failure"] for r in generation.responses] == ["wrong_answer"] * 3
        assert generation.stats["content_failures"] == {"truncated": 3, "wrong_answer": 3}
        _, rejected = validate.validate(generation.responses, queries, iteration=1, prompt_version="x")
        assert [r["reason"] for r in rejected] == ["wrong_answer"] * 3
        again = generate_openai(queries, cfg, seed=0)  # not cached: asked again, now answered well
        assert usable(again, queries) == 3 and server.stats()["requests"] == 9


def test_server_without_json_schema_gets_json_object(tmp_path):
    queries = make_queries(n_per_type=1)
    with FakeOpenAI(FakeSettings(json_schema=False)) as server:
        generation = generate_openai(queries, teacher_cfg(server, tmp_path / "c.sqlite"), seed=0)
    assert usable(generation, queries) == len(queries)


def test_a_bad_key_stops_the_step_with_the_servers_message_and_no_key(tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "sk-wrong-0123456789")
    with FakeOpenAI(FakeSettings(api_key="sk-right")) as server:
        with pytest.raises(TeacherError, match="401 - Incorrect API key") as err:
            generate_openai(make_queries(n_per_type=5), teacher_cfg(server, tmp_path / "c.sqlite", in_flight=2), seed=0)
        assert 1 <= server.stats()["refused"] < 10  # the other queued requests are never sent
    assert "sk-wrong-0123456789" not in str(err.value)


# ---------------------------------------------------------------- cache, dedup, budget, kill


def test_rerun_makes_no_call_and_identical_queries_share_one(tmp_path):
    queries = make_queries(n_per_type=2)
    twins = [{**q, "query_id": q["query_id"] + "-twin"} for q in queries[:5]]
    with FakeOpenAI() as server:
        cfg = teacher_cfg(server, tmp_path / "c.sqlite")
        first = generate_openai(queries + twins, cfg, seed=0)
        assert server.stats()["requests"] == len(queries)
        second = generate_openai(queries + twins, cfg, seed=0)
        assert server.stats()["requests"] == len(queries)
    assert second.responses == first.responses and second.stats["cache_hits"] == len(queries)
    assert second.stats["calls"] == 0 and second.stats["cost_usd"] == 0


def test_budget_cap_stops_cleanly_and_a_larger_budget_finishes_without_repeating(tmp_path):
    queries = make_queries(n_per_type=4)
    with FakeOpenAI() as server:
        worst_case = 2000 * 0.15e-6 + 400 * 0.6e-6  # per call: ~1,900 prompt tokens estimated + max_tokens
        capped = generate_openai(queries, teacher_cfg(server, tmp_path / "c.sqlite", budget_usd=10 * worst_case), seed=0)
        done = [r for r in capped.responses if "failure" not in r]
        assert 10 <= len(done) < len(queries) and capped.stats["stopped_by_budget"]
        assert capped.stats["cost_usd"] <= 10 * worst_case
        assert {r["failure"] for r in capped.responses if "failure" in r} == {"budget"}
        assert usable(capped, queries) == len(done)
        finished = generate_openai(queries, teacher_cfg(server, tmp_path / "c.sqlite"), seed=0)
        assert usable(finished, queries) == len(queries)
        assert server.stats()["requests"] == len(queries) and server.stats()["repeated_ok"] == 0


def test_generation_killed_half_way_repeats_no_successful_call(tmp_path):
    queries = make_queries(n_per_type=12)
    (tmp_path / "q.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    with FakeOpenAI(FakeSettings(latency_s=0.1)) as server:
        cfg = {k: v for k, v in teacher_cfg(server, tmp_path / "c.sqlite").items() if v is not None}
        (tmp_path / "config.yaml").write_text(yaml.safe_dump({"run": "kill", "teacher": cfg}))
        command = [sys.executable, "-m", "dataengine.openai_teacher", "generate", "--configfile", str(tmp_path / "config.yaml"),
                   "--queries", str(tmp_path / "q.jsonl"), "--out", str(tmp_path / "r.jsonl"), "--stats", str(tmp_path / "g.json")]  # fmt: skip
        process = subprocess.Popen(command, cwd=REPO, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while server.stats()["ok"] < len(queries) // 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 128 + signal.SIGTERM, process.stderr.read()[-2000:]
        assert not (tmp_path / "r.jsonl").exists()
        served = server.stats()["ok"]
        assert len(queries) // 2 <= served < len(queries)
        subprocess.run(command, cwd=REPO, check=True, capture_output=True)
        stats = server.stats()
    assert stats["repeated_ok"] == 0 and stats["ok"] == len(queries)
    assert json.loads((tmp_path / "g.json").read_text())["cache_hits"] == served


# ---------------------------------------------------------------- batch, estimate, secrets


def test_batch_mode_collects_by_custom_id_and_resubmits_only_failures(tmp_path):
    queries = make_queries(n_per_type=2)
    with FakeOpenAI(FakeSettings(fault_rate=0.4, faults=("server_error", "truncated"), seed=3)) as server:
        cfg = teacher_cfg(server, tmp_path / "c.sqlite", mode="batch", batch={"poll_s": 0.01, "rounds": 4})
        generation = generate_openai(queries, cfg, seed=0)
        stats = server.stats()
    faults = sum(stats["faults"].values())
    assert faults > 0 and stats["requests"] == len(queries) + faults
    assert usable(generation, queries) == len(queries) and stats["repeated_ok"] == 0
    assert generation.stats["cost_usd"] == pytest.approx(
        (generation.stats["prompt_tokens"] * 0.15 + generation.stats["completion_tokens"] * 0.6) / 1e6 / 2, rel=1e-3
    )
    assert ResponseCache(tmp_path / "c.sqlite").open_batches() == {}


def test_estimate_counts_only_the_calls_the_cache_cannot_answer(tmp_path):
    queries = make_queries(n_per_type=2)
    with FakeOpenAI() as server:
        cfg = teacher_cfg(server, tmp_path / "c.sqlite")
        before = estimate(queries, cfg, seed=0)
        generate_openai(queries[:6], cfg, seed=0)
        after = estimate(queries, cfg, seed=0)
        assert server.stats()["requests"] == 6
    assert before["calls"] == len(queries) and before["cached"] == 0
    assert after["calls"] == len(queries) - 6 and after["cached"] == 6
    assert after["cost_usd_max"] == pytest.approx(before["cost_usd_max"] * (len(queries) - 6) / len(queries), rel=0.05)
    assert before["completion_tokens_max"] == len(queries) * cfg["max_tokens"]


def test_the_key_is_sent_but_never_written(tmp_path, monkeypatch):
    secret = "sk-test-9f8e7d6c5b4a39281706"
    monkeypatch.setenv(KEY_ENV, secret)
    queries = make_queries(n_per_type=2)
    (tmp_path / "q.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    with FakeOpenAI(FakeSettings(api_key=secret, script=("rate_limit", "truncated"))) as server:
        cfg = teacher_cfg(server, tmp_path / "cache" / "c.sqlite")
        pipeline.generate(str(tmp_path / "q.jsonl"), str(tmp_path / "r.jsonl"), str(tmp_path / "g.json"), cfg, seed=0)
        assert server.stats()["ok"] == len(queries)  # the server accepted the key
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(written) >= 4
    for path in written:
        assert secret.encode() not in path.read_bytes(), path


def test_report_shows_the_teachers_calls_tokens_and_cost(tmp_path):
    from dataengine.report import summarize, write_summary_md
    from tests.test_report import METRICS, QUOTAS

    stats = {"teacher": "openai", "model": "gpt-4o-mini", "calls": 120, "cache_hits": 3, "prompt_tokens": 90000,
             "completion_tokens": 12000, "cost_usd": 0.0207, "failures": {"budget": 4, "truncated": 1}}  # fmt: skip
    write_summary_md(summarize("demo", "abc", METRICS, QUOTAS, [0, 9]), METRICS, tmp_path / "s.md", [stats])
    text = (tmp_path / "s.md").read_text(encoding="utf-8")
    assert "| 1 | gpt-4o-mini | 120 | 3 | 90000 | 12000 | 0.0207 | budget 4, truncated 1 |" in text
    assert "Teacher cost of the run: 0.0207 USD" in text
