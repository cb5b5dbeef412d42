"""Prompt optimisation against the local fake server: scripted, terminal and automatic reviewers."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pexpect
import pytest
import yaml

from dataengine import cli
from dataengine.core.config import knobs, resolve
from dataengine.core.formats import LETTERS
from dataengine.core.jsonl import read_jsonl, write_jsonl
from dataengine.core.qtypes import SEED_TABLE, SEED_TYPES
from dataengine.data.pool import build_synthetic_pool
from dataengine.teacher.llm.prompts import load_prompts
from dataengine.teacher.oracle import oracle_reply, query_rng
from dataengine.teacher.prompt_opt.loop import optimize
from dataengine.teacher.prompt_opt.reviewers import FileReviewer, TerminalReviewer, check_sample
from dataengine.teacher.prompt_opt.session import Options, read_session
from tests.conftest import CONFIGS, make_queries, shipped_prompts
from tools.fake_openai import FakeOpenAI
from tools.fake_replies import inject

DATAENGINE = str(Path(sys.executable).parent / "dataengine")


@pytest.fixture
def server():
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def setup(tmp_path, server):
    """A pool file, a copy of the shipped prompts and a config overlay pointing at the fake server."""
    build_synthetic_pool(tmp_path / "pool", n_images=90, seed=0, qtypes=list(SEED_TYPES), exclude_sha256=set())
    pool = tmp_path / "pool" / "annotations.jsonl"
    shipped_prompts(tmp_path / "prompts")
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(
        yaml.safe_dump(
            {
                "teacher": {"base_url": server.base_url, "prompts": str(tmp_path / "prompts")},
                "prompt_optimization": {"sessions": str(tmp_path / "sessions"), "versions": str(tmp_path / "versions")},
            }
        )
    )
    configs = [
        "--configfile",
        str(CONFIGS / "small.yaml"),
        "--configfile",
        str(CONFIGS / "openai.yaml"),
        "--configfile",
        str(overlay),
    ]
    return {"tmp": tmp_path, "pool": pool, "configs": configs}


def _rounds(tmp_path: Path, qtype: int = 5):
    session = read_session(tmp_path / "sessions" / str(qtype) / "session.jsonl")
    return session, [session.rounds[n].summary for n in sorted(session.rounds)]


def test_a_feedback_file_drives_three_rounds_of_review_and_revision(setup, server, capsys):
    # round 1: 2 of 4 wrong; round 2: 1 wrong; round 3: 1 wrong -> 75% < 90%, the rounds run out
    feedback = {f"r1-s{i:03d}": {"verdict": "correct"} for i in range(4)}
    feedback["r1-s001"] = {"verdict": "wrong", "note": "count only objects of one kind"}
    feedback["r1-s003"] = {"verdict": "wrong", "note": "say the number as a word"}
    feedback |= {
        f"r{r}-s{i:03d}": {"verdict": "wrong" if i == 0 else "correct", "note": f"round {r} note"}
        for r in (2, 3)
        for i in range(4)
    }
    path = setup["tmp"] / "feedback.yaml"
    path.write_text(yaml.safe_dump(feedback))
    args = ["prompt", "optimize", *setup["configs"], "--qtype", "5", "--rounds", "3", "--samples", "4"]
    cli.main([*args, "--pool", str(setup["pool"]), "--reviewer", "file", "--feedback", str(path)])

    session, rounds = _rounds(setup["tmp"])
    assert [r["correctness"] for r in rounds] == [0.5, 0.75, 0.75]
    assert [(r["correct"], r["wrong"]) for r in rounds] == [(2, 2), (3, 1), (3, 1)]
    assert session.end["reason"] == "rounds"
    versions = [r["version"] for r in rounds]
    assert len(set(versions)) == 3 and session.end["version"] == versions[2]
    assert [session.rounds[n].revision["decision"] for n in (1, 2)] == ["accepted", "accepted"]
    final = load_prompts(setup["tmp"] / "versions" / versions[2]).definitions[5]
    assert final.splitlines()[1:] == [
        "Rule: count only objects of one kind",
        "Rule: say the number as a word",
        "Rule: round 2 note",
    ]
    assert load_prompts(setup["tmp"] / "versions" / versions[0]).version == versions[0]  # the hash is the name
    # 12 samples + 2 revision requests, nothing repeated
    assert server.stats()["ok"] == 14 and server.stats()["repeated_ok"] == 0

    capsys.readouterr()
    cli.main(["prompt", "history", *setup["configs"], "--qtype", "5"])
    out = capsys.readouterr().out
    assert f"1      {versions[0]}  2        2      0     50%" in out
    assert f"3      {versions[2]}  3        1      0     75%" in out
    assert "+  Rule: count only objects of one kind" in out and f"round 2: {versions[1]} -> {versions[2]}" in out
    assert "ended: rounds" in out


def test_the_session_stops_at_the_target(setup, server):
    args = ["prompt", "optimize", *setup["configs"], "--qtype", "3", "--samples", "5", "--pool", str(setup["pool"])]
    cli.main([*args, "--reviewer", "auto"])  # the fake teacher writes the oracle's items: all correct
    session, rounds = _rounds(setup["tmp"], qtype=3)
    assert [r["correctness"] for r in rounds] == [1.0] and session.end["reason"] == "target"
    assert server.stats()["ok"] == 5  # no revision asked


def test_a_version_no_sample_could_judge_is_never_recommended(setup, server, capsys):
    path = setup["tmp"] / "feedback.yaml"
    path.write_text(yaml.safe_dump({f"r1-s{i:03d}": {"verdict": "skip"} for i in range(3)}))
    args = ["prompt", "optimize", *setup["configs"], "--qtype", "5", "--rounds", "1", "--samples", "3"]
    cli.main([*args, "--pool", str(setup["pool"]), "--reviewer", "file", "--feedback", str(path)])
    session, rounds = _rounds(setup["tmp"])
    assert rounds[0]["correctness"] is None and session.end["reason"] == "no data"
    out = capsys.readouterr().out
    assert "no version is recommended" in out and "set teacher.prompts" not in out


def _corrupt(reply: dict, annotation: dict, qtype: int, kind: int) -> tuple[dict, int]:
    """A deliberately wrong sample: the fake server's wrong answer, a letter off, a contradicting
    answer sentence, or a type the image cannot carry."""
    unsupported = [t for t in SEED_TYPES if t not in annotation["qtypes"]]
    if kind == 3 and unsupported:
        return reply, unsupported[0]
    if kind in (0, 3):
        return json.loads(inject("wrong_answer", json.dumps(reply))[0]), qtype
    other = (LETTERS.index(reply["choice_answer"]) + 1) % 4
    if kind == 1:
        return {**reply, "choice_answer": LETTERS[other]}, qtype
    return {**reply, "answer": reply["answer"].replace(reply["short_answer"], reply["options"][other])}, qtype


def test_the_automatic_reviewer_agrees_with_the_synthetic_pool_and_flags_every_corruption(tmp_path, capsys):
    pool = build_synthetic_pool(tmp_path, n_images=300, seed=0, qtypes=list(SEED_TYPES), exclude_sha256=set())
    pairs = [(a, t) for a in pool for t in a["qtypes"]]  # every question the pool's images carry
    counts = {"clean": {"correct": 0, "wrong": 0, "skip": 0}, "corrupted": {"correct": 0, "wrong": 0, "skip": 0}}
    for n, (annotation, qtype) in enumerate(pairs):
        query = {"qtype": qtype, "annotation": annotation}
        reply = json.loads(oracle_reply(query, query_rng(0, f"{annotation['image_id']}-{qtype}")))
        sample = {"sample_id": str(n), "qtype": qtype, "annotation": annotation}
        counts["clean"][check_sample({**sample, "reply": reply}).verdict] += 1
        bad, bad_qtype = _corrupt(reply, annotation, qtype, n % 4)
        verdict = check_sample({**sample, "qtype": bad_qtype, "reply": bad})
        counts["corrupted"][verdict.verdict] += 1
        assert verdict.verdict == "wrong" and verdict.note, (annotation["image_id"], qtype, n % 4, bad)
    with capsys.disabled():
        print(f"\nautomatic reviewer, {len(pairs)} clean + {len(pairs)} corrupted samples: {counts}")
    assert len(pairs) > 300 and counts["clean"]["correct"] >= 0.99 * len(pairs)
    assert counts["corrupted"] == {"correct": 0, "wrong": len(pairs), "skip": 0}


def test_the_automatic_reviewer_skips_what_the_annotation_cannot_decide():
    query = make_queries(n_per_type=1)[5]  # a spatial scene: two answers, one per direction
    reply = json.loads(oracle_reply(query, query_rng(0, query["query_id"])))
    sample = {"sample_id": "x", "qtype": 6, "annotation": query["annotation"]}
    assert check_sample({**sample, "reply": {**reply, "instruction": "Which way round are they?"}}).verdict == "skip"
    real = {k: v for k, v in query["annotation"].items() if k != "background"}
    assert check_sample({**sample, "annotation": real, "reply": reply}).verdict == "skip"
    assert check_sample({**sample, "failure": "truncated"}).verdict == "wrong"


def test_the_terminal_flow_resumes_after_an_interruption(setup):
    editor = setup["tmp"] / "editor.sh"
    editor.write_text('#!/bin/sh\necho "Edited by hand." >> "$1"\n')
    editor.chmod(0o755)
    env = {**os.environ, "EDITOR": str(editor), "PYTHONUNBUFFERED": "1"}
    args = [
        "prompt",
        "optimize",
        *setup["configs"],
        "--qtype",
        "5",
        "--rounds",
        "2",
        "--samples",
        "3",
        "--pool",
        str(setup["pool"]),
    ]

    child = pexpect.spawn(DATAENGINE, args, env=env, encoding="utf-8", timeout=60, cwd=str(setup["tmp"]))
    child.expect(r"=== sample 1 of 3: r1-s000")
    child.expect(r"image: .*pool/images/\S+\.png")
    child.expect(r"Q: How many objects are there\?")
    child.expect(r"\[q\]uit > ")
    child.sendline("c")
    child.expect(r"=== sample 2 of 3: r1-s001.*\[q\]uit > ")
    child.sendline("n")
    child.expect("note: ")
    child.sendline("miscounted the small ones")
    child.expect(r"\[q\]uit > ")
    child.sendline("w")
    child.expect(r"=== sample 3 of 3: r1-s002.*\[q\]uit > ")
    child.sendline("q")
    child.expect("run the same command to resume")
    child.expect(pexpect.EOF)

    child = pexpect.spawn(DATAENGINE, args, env=env, encoding="utf-8", timeout=60, cwd=str(setup["tmp"]))
    child.expect("resuming the session")
    child.expect(r"=== sample 3 of 3: r1-s002.*\[q\]uit > ")  # not s000 again
    child.sendline("c")
    child.expect(r"\+Rule: miscounted the small ones")
    child.expect(r"\[a\]ccept \[e\]dit \[r\]eject > ")
    child.sendline("e")
    for i in range(3):
        child.expect(rf"=== sample {i + 1} of 3: r2-s{i:03d}.*\[q\]uit > ")
        child.sendline("c")
    child.expect(r"session ended \(target\)")
    child.expect(pexpect.EOF)

    session, rounds = _rounds(setup["tmp"])
    assert [(r["correct"], r["wrong"]) for r in rounds] == [(2, 1), (3, 0)]
    assert session.rounds[1].verdicts["r1-s001"].note == "miscounted the small ones"
    assert session.rounds[1].revision["decision"] == "edited"
    assert (
        load_prompts(setup["tmp"] / "versions" / rounds[1]["version"])
        .definitions[5]
        .endswith("Rule: miscounted the small ones\nEdited by hand.")
    )


def test_a_rejected_revision_keeps_the_version_and_bad_feedback_names_file_and_sample(setup):
    config = resolve(setup["configs"][1::2])
    options = Options(
        5, SEED_TABLE, rounds=2, samples=2, target=0.9, seed=0, sessions=setup["tmp"] / "s", versions=setup["tmp"] / "v"
    )
    keys = iter(["w", "n", "too easy", "w", "r", "c", "c"])
    reviewer = TerminalReviewer(setup["tmp"], SEED_TABLE, ask=lambda _: next(keys), say=lambda *_: None)
    session = optimize(
        options, knobs(config, "teacher", 1), setup["tmp"] / "prompts", read_jsonl(setup["pool"]), reviewer
    )
    assert session.rounds[1].revision["decision"] == "rejected"
    assert [session.rounds[n].summary["correctness"] for n in (1, 2)] == [0.0, 1.0]
    assert session.rounds[1].summary["version"] == session.rounds[2].summary["version"] == session.end["version"]
    assert len(list(options.versions.iterdir())) == 1

    feedback = setup["tmp"] / "partial.jsonl"
    write_jsonl(feedback, [{"sample_id": "r1-s000", "verdict": "fine"}])
    with pytest.raises(ValueError, match=r"partial.jsonl: sample r1-s000: verdict 'fine' is not one of"):
        FileReviewer(feedback).review({"sample_id": "r1-s000"})
    with pytest.raises(ValueError, match=r"partial.jsonl: no verdict for sample r1-s001"):
        FileReviewer(feedback).review({"sample_id": "r1-s001"})
