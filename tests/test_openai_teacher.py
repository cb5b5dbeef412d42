"""The openai teacher against the local fake server: faults, cache, budget, batch, estimate, secrets."""

from __future__ import annotations

import json
import logging
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from contextlib import closing

import pytest
import yaml

from dataengine import pipeline
from dataengine.core.config import validate_config
from dataengine.endpoint.cache import CacheDamaged, ResponseCache, request_key
from dataengine.endpoint.ledger import Ledger, ledger_path
from dataengine.endpoint.limiter import Budget, RateLimiter
from dataengine.teacher import validate
from dataengine.teacher.llm.generation import estimate, generate_openai
from dataengine.teacher.llm.prompts import load_prompts, render_messages
from dataengine.teacher.llm.runner import TeacherError
from dataengine.teacher.llm.settings import REPO
from tests.conftest import client_timeout, make_queries, shipped_prompts
from tools.fake_openai import FakeOpenAI, FakeSettings

KEY_ENV = "DATAENGINE_TEST_TEACHER_KEY"


@pytest.fixture(autouse=True)
def no_openai_env(monkeypatch):
    """The client reads OPENAI_* variables; none may leak in from the machine."""
    for name in [n for n in __import__("os").environ if n.startswith("OPENAI_")]:
        monkeypatch.delenv(name)


def teacher_cfg(server: FakeOpenAI, cache, **knobs) -> dict:
    cfg = {
        "kind": "openai",
        "model": "fake-teacher",
        "base_url": server.base_url,
        "cache": str(cache),
        "api_key_env": KEY_ENV,
        "timeout_s": client_timeout(server.settings.latency_s),
        "in_flight": 8,
        **knobs,
    }
    return validate_config({"teacher": cfg})["teacher"]


def timed_out(*generations) -> int:
    """Requests retried after a timeout: on a loaded machine a normal reply can outlast the client's
    timeout, and the retry is then one more request, rightly."""
    return sum(generation.stats["retries"].get("timeout", 0) for generation in generations)


def usable(generation, queries) -> int:
    accepted, _ = validate.validate(generation.responses, queries, iteration=1, prompt_version="x")
    return len(accepted)


# ---------------------------------------------------------------- prompts, cache, limits


def test_prompts_render_the_annotation_type_and_bad_cases_and_are_versioned_by_content(tmp_path):
    query = {
        **make_queries(n_per_type=1)[2],
        "in_context": [{"question": "Q?", "options": ["a", "b", "c", "d"], "answer": "C", "image": "x"}],
    }
    prompts = load_prompts(REPO / "config" / "prompts")
    system, user = render_messages(prompts, query)
    assert system["role"] == "system" and "JSON" in system["content"]
    assert "Question type: 3 (Instance Attributes)" in user["content"]
    assert "Options: A. a; B. b; C. c; D. d" in user["content"] and "Correct answer: C" in user["content"]
    shown = json.loads(user["content"].split("<annotation>")[1].split("</annotation>")[0])
    assert shown["objects"] == query["annotation"]["objects"] and "qtypes" not in shown and "sha256" not in shown
    edited = shipped_prompts(tmp_path / "prompts")
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
    assert (
        len({key, request_key("m2", messages, {"temperature": 0.7}), request_key("m", messages, {"temperature": 0})})
        == 3
    )
    from dataengine.endpoint.cache import CachedReply

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
    """Each of 4 requests meets the fault once, then a good reply: 8 requests, or more only where a
    good reply outlasted the timeout (then retried as a timeout)."""
    queries = make_queries(n_per_type=1)[:4]
    with FakeOpenAI(
        FakeSettings(script=(fault,), hang_s=2 * client_timeout())
    ) as server:  # a hang outlasts the timeout
        generation = generate_openai(queries, teacher_cfg(server, tmp_path / "c.sqlite"), seed=0)
        slow = timed_out(generation) - (4 if fault == "hang" else 0)
        assert slow >= 0 and server.stats()["requests"] == 8 + slow and server.stats()["faults"] == {fault: 4}
    assert usable(generation, queries) == 4 and generation.stats["failures"] == {}
    expected = Counter({retry_reason: 4} if retry_reason else {}) + Counter({"timeout": slow})
    assert generation.stats["retries"] == dict(expected)
    assert generation.stats["content_failures"] == ({content_reason: 4} if content_reason else {})


def test_content_failures_that_persist_are_recorded_with_their_reason_and_not_cached(tmp_path):
    queries = make_queries(n_per_type=1)[:3]
    with FakeOpenAI(FakeSettings(script=("truncated", "wrong_answer"))) as server:
        cfg = teacher_cfg(server, tmp_path / "c.sqlite", content_retries=1)
        generation = generate_openai(queries, cfg, seed=0)
        assert [r["failure"] for r in generation.responses] == ["wrong_answer"] * 3
        assert generation.stats["content_failures"] == {"truncated": 3, "wrong_answer": 3}
        # Every reply says which server answered and what it injected (the report's banner reads it).
        fingerprint = "fake_openai injected_faults=truncated,wrong_answer rate=scripted"
        assert generation.stats["system_fingerprints"] == {fingerprint: 6}
        _, rejected = validate.validate(generation.responses, queries, iteration=1, prompt_version="x")
        assert [r["reason"] for r in rejected] == ["wrong_answer"] * 3
        assert all(r["detail"].startswith("short_answer ") for r in rejected)  # the last reply's fault, named
        again = generate_openai(queries, cfg, seed=0)  # not cached: asked again, now answered well
        assert usable(again, queries) == 3 and server.stats()["requests"] == 9 + timed_out(generation, again)


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
        # Only the requests in flight when the first 401 came back were sent: none queued behind them
        # (on a loaded machine the caller can see the error late; the workers stop at once).
        assert 1 <= server.stats()["refused"] <= 2
    assert "sk-wrong-0123456789" not in str(err.value)


# ---------------------------------------------------------------- cache, dedup, budget, kill


def test_rerun_makes_no_call_and_identical_queries_share_one(tmp_path):
    queries = make_queries(n_per_type=2)
    twins = [{**q, "query_id": q["query_id"] + "-twin"} for q in queries[:5]]
    with FakeOpenAI() as server:
        cfg = teacher_cfg(server, tmp_path / "c.sqlite")
        first = generate_openai(queries + twins, cfg, seed=0)
        assert server.stats()["requests"] == len(queries) + timed_out(first)
        second = generate_openai(queries + twins, cfg, seed=0)
        assert server.stats()["requests"] == len(queries) + timed_out(first)
    assert second.responses == first.responses and second.stats["cache_hits"] == len(queries)
    assert second.stats["calls"] == 0 and second.stats["cost_usd"] == 0


def test_budget_cap_stops_cleanly_and_a_larger_budget_finishes_without_repeating(tmp_path):
    queries = make_queries(n_per_type=4)
    with FakeOpenAI() as reference:  # what all the queries cost
        full = generate_openai(queries, teacher_cfg(reference, tmp_path / "ref.sqlite"), seed=0).stats["cost_usd"]
    cap = full / 2  # whatever the timing (even one call at a time), the cap stops the step
    with FakeOpenAI() as server:
        worst_case = 1000 * 0.15e-6 + 400 * 0.6e-6  # per call, an upper bound: ~600 prompt tokens + max_tokens
        capped = generate_openai(queries, teacher_cfg(server, tmp_path / "c.sqlite", budget_usd=cap), seed=0)
        done = [r for r in capped.responses if "failure" not in r]
        assert int(cap / worst_case) - 1 <= len(done) < len(queries) and capped.stats["stopped_by_budget"]
        assert capped.stats["cost_usd"] <= cap
        assert {r["failure"] for r in capped.responses if "failure" in r} == {"budget"}
        assert usable(capped, queries) == len(done)
        finished = generate_openai(queries, teacher_cfg(server, tmp_path / "c.sqlite"), seed=0)
        assert usable(finished, queries) == len(queries)
        assert server.stats()["requests"] == len(queries) and server.stats()["repeated_ok"] == 0


def generate_command(tmp_path, server, queries, name="g", cache="c.sqlite", **knobs) -> list[str]:
    """`dataengine teacher generate` for `queries`, writing {name}.jsonl and {name}.json."""
    (tmp_path / "q.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    cfg = {k: v for k, v in teacher_cfg(server, tmp_path / cache, **knobs).items() if v is not None}
    (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump({"run": "cli", "teacher": cfg}))
    return [
        sys.executable,
        "-m",
        "dataengine.cli",
        "teacher",
        "generate",
        "--configfile",
        str(tmp_path / f"{name}.yaml"),
        "--queries",
        str(tmp_path / "q.jsonl"),
        "--out",
        str(tmp_path / f"{name}.jsonl"),
        "--stats",
        str(tmp_path / f"{name}.json"),
    ]


def wait_for(server, ok: int, process=None) -> None:
    deadline = time.monotonic() + 60
    while server.stats()["ok"] < ok and time.monotonic() < deadline:
        time.sleep(0.01)
    assert process is None or process.poll() is None, "the job ended before the test could interrupt it"


def ledger_replies(cache) -> list[dict]:
    return [r for r in Ledger(ledger_path(cache), step=None).records() if r["event"] == "reply"]


def test_generation_killed_half_way_repeats_no_successful_call_and_reports_both_attempts(tmp_path):
    queries = make_queries(n_per_type=12)
    # 0.3 s a reply, 8 in flight: the second half takes 2 s, time enough to SIGTERM the job in it
    with FakeOpenAI(FakeSettings(latency_s=0.3)) as server:
        command = generate_command(tmp_path, server, queries)
        process = subprocess.Popen(command, cwd=REPO, stderr=subprocess.PIPE, text=True)
        wait_for(server, len(queries) // 2, process)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 128 + signal.SIGTERM, process.stderr.read()[-2000:]
        assert not (tmp_path / "g.jsonl").exists()
        served = server.stats()["ok"]
        assert len(queries) // 2 <= served < len(queries)
        subprocess.run(command, cwd=REPO, check=True, capture_output=True)
        stats = server.stats()
    assert stats["repeated_ok"] == 0 and stats["ok"] == len(queries)
    generation = json.loads((tmp_path / "g.json").read_text())
    assert generation["cache_hits"] == served
    paid = ledger_replies(tmp_path / "c.sqlite")
    assert len(paid) == len(queries) == generation["replies"]  # each reply paid once, both jobs' counted
    assert generation["attempts"] == 2 and generation["this_job"]["replies"] == len(queries) - served
    assert generation["cost_usd"] == pytest.approx(sum(r["cost_usd"] for r in paid), abs=1e-6)
    assert 0 < generation["this_job"]["cost_usd"] < generation["cost_usd"]


def test_sigkill_pays_again_only_for_the_calls_in_flight(tmp_path):
    """A killed job's calls in flight are billed but their replies never arrive: the rerun asks them
    again (at most `in_flight`), and the ledger holds every reply that did arrive."""
    queries = make_queries(n_per_type=12)
    with FakeOpenAI(FakeSettings(latency_s=0.2)) as server:
        command = generate_command(tmp_path, server, queries, in_flight=4)
        process = subprocess.Popen(command, cwd=REPO, stderr=subprocess.DEVNULL)
        wait_for(server, len(queries) // 3, process)
        process.kill()
        process.wait(timeout=30)
        subprocess.run(command, cwd=REPO, check=True, capture_output=True, timeout=120)  # its claims lapse at once
        stats = server.stats()
    paid = ledger_replies(tmp_path / "c.sqlite")
    lost = stats["ok"] - len(paid)  # billed, but the killed job never read them
    # Only calls in flight at the kill are paid twice: those lost, and any read but not yet cached
    # (in the ledger twice, as they were paid twice).
    assert 0 <= lost <= stats["repeated_ok"] <= 4
    with closing(sqlite3.connect(tmp_path / "c.sqlite")) as db:
        assert {r["key"] for r in paid} == {key for (key,) in db.execute("SELECT key FROM replies")}
    assert len({r["key"] for r in paid}) == len(queries)


def test_two_jobs_sharing_a_cache_pay_each_distinct_request_once(tmp_path):
    queries = make_queries(n_per_type=8)
    with FakeOpenAI(FakeSettings(latency_s=0.5)) as server:
        # One at a time, the first job would pay for 36 s: the second starts in that time even on a loaded
        # machine (a 14 s window was missed once with four test suites on two cores), then pays 4 at a time
        first = subprocess.Popen(
            generate_command(tmp_path, server, queries, "a", in_flight=1), cwd=REPO, stderr=subprocess.PIPE, text=True
        )
        wait_for(server, 4, first)  # the first job is paying when the second starts
        second = subprocess.run(
            generate_command(tmp_path, server, queries, "b", in_flight=4),
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert second.returncode == 0, second.stderr[-2000:]
        assert first.wait(timeout=300) == 0, first.stderr.read()[-2000:]
        stats = server.stats()
    assert stats["requests"] == stats["ok"] == len(queries) and stats["repeated_ok"] == 0
    a, b = (json.loads((tmp_path / f"{name}.json").read_text()) for name in "ab")
    assert a["this_job"]["replies"] + b["this_job"]["replies"] == len(queries)
    # They overlapped: each paid for some requests and took the other's replies from the cache.
    assert a["this_job"]["replies"] > 0 and b["this_job"]["replies"] > 0 and a["cache_hits"] > 0 and b["cache_hits"] > 0
    assert a["failures"] == b["failures"] == {}
    responses = [[json.loads(line) for line in (tmp_path / f"{name}.jsonl").read_text().splitlines()] for name in "ab"]
    assert responses[0] == responses[1]
    assert len(ledger_replies(tmp_path / "c.sqlite")) == len(queries)


# ---------------------------------------------------------------- damaged caches


def garble(path) -> None:
    """Overwrite everything after SQLite's 100-byte header."""
    size = path.stat().st_size
    with path.open("r+b") as handle:
        handle.seek(100)
        handle.write(bytes((7 * i) % 251 for i in range(size - 100)))


@pytest.mark.parametrize(
    "damage, problem",
    [
        (lambda cache: cache.write_bytes(b""), "is empty (0 bytes): the replies it held are gone"),
        (garble, "is damaged ("),
        (lambda cache: cache.unlink(), "is missing, but its ledger records 6 cached replies"),
    ],
)
def test_a_damaged_cache_stops_generation_naming_the_file_until_told_to_start_afresh(tmp_path, damage, problem):
    queries = make_queries(n_per_type=1)[:6]
    with FakeOpenAI() as server:
        filled = subprocess.run(generate_command(tmp_path, server, queries), cwd=REPO, capture_output=True)
        assert filled.returncode == 0 and server.stats()["requests"] == 6
        cache = tmp_path / "c.sqlite"
        damage(cache)
        cfg = teacher_cfg(server, cache)
        with pytest.raises(CacheDamaged) as err:
            generate_openai(queries, cfg, seed=0)
        assert f"response cache {cache} {problem}" in str(err.value)
        assert "restart_damaged_cache: true" in str(err.value) and "--restart-damaged-cache" in str(err.value)
        assert server.stats()["requests"] == 6  # nothing asked, so nothing paid
        again = generate_openai(queries, {**cfg, "restart_damaged_cache": True}, seed=0)
        assert usable(again, queries) == 6 and server.stats()["requests"] == 12  # asked, and paid, again
        moved = sorted(tmp_path.glob("c.sqlite.damaged-*"))
        assert [p.name for p in moved if not p.name.endswith(("-wal", "-shm"))] == (
            [] if "missing" in problem else [moved[0].name]
        )
        events = [r["event"] for r in Ledger(ledger_path(cache), step=None).records()]
        assert events == ["reply"] * 6 + ["cache_restarted"] + ["reply"] * 6
        generate_openai(queries, cfg, seed=0)  # the new cache is trusted without the flag
        assert server.stats()["requests"] == 12


def test_the_command_line_starts_a_damaged_cache_afresh_when_asked(tmp_path):
    queries = make_queries(n_per_type=1)[:3]
    with FakeOpenAI() as server:
        command = generate_command(tmp_path, server, queries)
        (tmp_path / "c.sqlite").write_bytes(b"")
        refused = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
        assert (
            refused.returncode != 0 and f"response cache {tmp_path / 'c.sqlite'} is empty (0 bytes)" in refused.stderr
        )
        subprocess.run([*command, "--restart-damaged-cache"], cwd=REPO, check=True, capture_output=True)
        assert server.stats()["ok"] == 3 and len(ResponseCache(tmp_path / "c.sqlite")) == 3


def test_ledger_counts_a_batch_reply_once_and_skips_a_torn_line(tmp_path, caplog):
    ledger = Ledger(tmp_path / "l.jsonl", step="s")
    ledger.reply("k1", "m", 10, 2, 0.5, "ok")
    ledger.reply("k2", "m", 10, 2, 0.25, "ok", batch="b1")
    Ledger(tmp_path / "l.jsonl", step="s").reply("k2", "m", 10, 2, 0.25, "ok", batch="b1")  # collected twice
    with (tmp_path / "l.jsonl").open("a") as handle:
        handle.write('{"event": "reply", "ste')  # a write torn by a full disk
    ledger.reply("k3", "m", 10, 2, 1.0, "truncated")
    Ledger(tmp_path / "l.jsonl", step="other").reply("k4", "m", 10, 2, 8.0, "ok")
    with caplog.at_level(logging.WARNING, logger="dataengine"):
        assert ledger.paid() == {
            "replies": 3,
            "prompt_tokens": 30,
            "completion_tokens": 6,
            "cost_usd": 1.75,
            "attempts": 1,
        }
    assert any("l.jsonl: line 4 is not JSON" in m for m in caplog.messages)
    assert ledger.cached_replies() == 4
    ledger.cache_restarted(None)
    assert ledger.cached_replies() == 0


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
    assert generation.stats["system_fingerprints"] == {server.settings.fingerprint: generation.stats["replies"]}
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
    from dataengine.core.qtypes import SEED_TABLE
    from dataengine.report.summary import summarize, write_summary_md
    from tests.test_report import METRICS, QUOTAS

    stats = {
        "teacher": "openai",
        "model": "gpt-4o-mini",
        "calls": 120,
        "cache_hits": 3,
        "prompt_tokens": 90000,
        "completion_tokens": 12000,
        "cost_usd": 0.0207,
        "attempts": 2,
        "ledger": "cache/teacher.ledger.jsonl",
        "failures": {"budget": 4, "truncated": 1},
    }
    seed_set = {**stats, "calls": 60, "cache_hits": 0, "cost_usd": 0.0101, "attempts": 1, "failures": {}}
    summary = summarize("demo", "abc", METRICS, QUOTAS, [0, 9], SEED_TABLE)
    write_summary_md(summary, METRICS, tmp_path / "s.md", SEED_TABLE, {"seed set": seed_set, "1": stats})
    text = (tmp_path / "s.md").read_text(encoding="utf-8")
    assert "| seed set | gpt-4o-mini | 60 | 0 | 90000 | 12000 | 0.0101 | 1 | – |" in text
    assert "| 1 | gpt-4o-mini | 120 | 3 | 90000 | 12000 | 0.0207 | 2 | budget 4, truncated 1 |" in text
    assert "Teacher cost of the run: 0.0308 USD (from the ledger cache/teacher.ledger.jsonl)" in text
