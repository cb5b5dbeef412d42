"""A session's rounds: generate samples of one type with the current prompt version, have them
reviewed, and when the round falls short of the target ask the endpoint for a revised definition;
and the table of a session's rounds."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import openai

from dataengine.endpoint.client import EndpointError, openai_client
from dataengine.teacher.llm.generation import generate_openai
from dataengine.teacher.llm.prompts import load_prompts, prompt_annotation
from dataengine.teacher.llm.runner import is_transport_failure
from dataengine.teacher.llm.settings import OpenAISettings
from dataengine.teacher.prompt_opt.reviewers import Reviewer, check_sample
from dataengine.teacher.prompt_opt.session import (
    VERDICTS,
    Options,
    Proposal,
    RoundState,
    Session,
    append_event,
    read_session,
    session_path,
)
from dataengine.teacher.prompt_opt.versions import save_version, version_diff
from dataengine.teacher.validate import check_reply

REVISION_SYSTEM = (
    "You improve the type definition in a prompt that makes an LLM write multiple-choice questions about "
    "an image from its annotation. You get the current definition, the samples a reviewer marked wrong and "
    "the reviewer's notes. Keep what works, fix what the notes point at, stay short. Reply with the whole "
    "revised definition between <prompt> and </prompt>."
)
_PROMPT_TAG = re.compile(r"<prompt>\s*(.*?)\s*</prompt>", re.DOTALL)


def round_queries(pool: list[dict], qtype: int, k: int, seed: int, round_no: int) -> list[dict]:
    """K pool images that carry the type (fresh ones each round, fixed by seed and round)."""
    fit = [a for a in pool if a.get("qtypes") is None or qtype in a["qtypes"]]
    if not fit:
        raise ValueError(f"the pool has no image annotated as supporting type {qtype}")
    rng = np.random.default_rng([seed, qtype, round_no])
    picks = rng.choice(len(fit), size=min(k, len(fit)), replace=False)
    return [
        {
            "query_id": f"r{round_no}-s{i:03d}",
            "qtype": qtype,
            "image_id": fit[j]["image_id"],
            "image": fit[j]["image"],
            "annotation": fit[j],
            "in_context": [],
        }
        for i, j in enumerate(picks)
    ]


def generate_samples(queries: list[dict], teacher_cfg: dict, prompts: Path, cache: Path, seed: int) -> list[dict]:
    """The teacher's sample per query with the given prompt folder; a reply the teacher gave up on
    keeps its failure reason (the round counts it wrong without asking the reviewer). An endpoint that
    did not answer is an EndpointError: nothing was written by the prompt, so nothing is judged."""
    generation = generate_openai(queries, {**teacher_cfg, "prompts": str(prompts), "cache": str(cache)}, seed)
    unanswered = [
        (q["query_id"], r["failure"])
        for q, r in zip(queries, generation.responses)
        if is_transport_failure(r.get("failure"))
    ]
    if unanswered:
        where = teacher_cfg.get("base_url") or "the OpenAI API"
        raise EndpointError(
            f"the teacher's endpoint ({teacher_cfg['model']} at {where}) did not answer {len(unanswered)} of "
            f"{len(queries)} requests (first: {unanswered[0][0]}, {unanswered[0][1]}, after its retries); "
            "nothing was judged: run the same command again once it answers"
        )
    samples = []
    for query, response in zip(queries, generation.responses):
        reply, reason = (
            (None, response["failure"]) if "failure" in response else check_reply(response["content"], query)
        )
        sample = {
            "sample_id": query["query_id"],
            "qtype": query["qtype"],
            "image": query["image"],
            "annotation": prompt_annotation(query["annotation"]),
        }
        samples.append({**sample, "reply": reply} if reply else {**sample, "failure": reason})
    return samples


def request_revision(
    settings: OpenAISettings, qtype: int, type_name: str, definition: str, failures: list[dict]
) -> str:
    """Ask the teacher's endpoint (same model, server and key) for a revised definition of a type."""
    notes = sorted({f["note"] for f in failures if f.get("note")})
    shown = [{k: f[k] for k in ("sample_id", "reply", "failure", "note") if f.get(k)} for f in failures]
    user = (
        f"Question type {qtype} ({type_name}).\n<prompt>\n{definition}\n</prompt>\n"
        f"<failures>\n{chr(10).join(json.dumps(s, sort_keys=True) for s in shown)}\n</failures>\n"
        f"<notes>\n{chr(10).join(f'- {n}' for n in notes)}\n</notes>"
    )
    client = openai_client(settings.api_key(), settings.base_url, settings.timeout_s, settings.max_retries)
    try:
        completion = client.chat.completions.create(
            model=settings.model,
            messages=[{"role": "system", "content": REVISION_SYSTEM}, {"role": "user", "content": user}],
            temperature=settings.temperature,
            max_tokens=max(settings.max_tokens, 1000),
        )
    except (openai.APIConnectionError, openai.RateLimitError, openai.InternalServerError) as err:
        where = settings.base_url or "the OpenAI API"
        raise EndpointError(
            f"the revision request to {settings.model} at {where} failed after its retries: {err}"
        ) from None
    content = completion.choices[0].message.content or ""
    match = _PROMPT_TAG.search(content)
    if not match or not match[1]:
        raise ValueError(f"revision reply of {settings.model}: no <prompt>...</prompt> in {content[:200]!r}")
    return match[1]


def optimize(
    options: Options, teacher_cfg: dict, base_prompts: Path, pool: list[dict], reviewer: Reviewer, log=print
) -> Session:
    """Run (or resume) the session of `options.qtype` until the target, the last round, or the
    reviewer stops; returns the session as recorded. A resumed session keeps the rounds, sample count,
    target and seed it started with, so its rounds stay comparable."""
    path = session_path(options)
    path.parent.mkdir(parents=True, exist_ok=True)
    session = read_session(path)
    if session is None or session.end is not None:
        version = save_version(base_prompts, options.versions)
        start = {
            "event": "start",
            "qtype": options.qtype,
            "version": version,
            "rounds": options.rounds,
            "samples": options.samples,
            "target": options.target,
            "seed": options.seed,
        }
        append_event(path, start)
        session = read_session(path)
    else:
        log(f"resuming the session in {path} at version {session.version}")
    settings = OpenAISettings.from_config({**teacher_cfg, "prompts": str(base_prompts)})
    start = session.start
    for n in range(1, start["rounds"] + 1):
        state = session.rounds.setdefault(n, RoundState())
        version = session.version
        if state.samples is None:
            queries = round_queries(pool, options.qtype, start["samples"], start["seed"], n)
            log(f"round {n}: generating {len(queries)} samples with {version}")
            state.samples = generate_samples(
                queries, teacher_cfg, options.versions / version, path.parent / "teacher.sqlite", start["seed"]
            )
            append_event(path, {"event": "samples", "round": n, "version": version, "samples": state.samples})
        for k, sample in enumerate(state.samples, start=1):
            if sample["sample_id"] in state.verdicts:
                continue
            verdict = check_sample(sample) if "failure" in sample else reviewer.review(sample, (k, len(state.samples)))
            if verdict is None:
                log(f"stopped at {sample['sample_id']}; run the same command to resume")
                return session
            state.verdicts[sample["sample_id"]] = verdict
            append_event(path, {"event": "verdict", "round": n, "sample_id": sample["sample_id"], **verdict.__dict__})
        if state.summary is None:
            counts = {v: sum(x.verdict == v for x in state.verdicts.values()) for v in VERDICTS}
            judged = counts["correct"] + counts["wrong"]
            state.summary = {
                "event": "round",
                "round": n,
                "version": version,
                **counts,
                "correctness": round(counts["correct"] / judged, 4) if judged else None,
            }
            append_event(path, state.summary)
            log(f"round {n}: {counts['correct']}/{judged} correct with {version}")
        correctness = state.summary["correctness"]
        if (correctness or 0.0) >= start["target"] or n == start["rounds"]:
            # a version no sample of its last round could judge is not recommended
            reason = "no data" if correctness is None else "target" if correctness >= start["target"] else "rounds"
            session.end = {"event": "end", "reason": reason, "version": version}
            append_event(path, session.end)
            return session
        if state.revision is None:
            failures = [
                {**s, **state.verdicts[s["sample_id"]].__dict__}
                for s in state.samples
                if state.verdicts[s["sample_id"]].verdict == "wrong"
            ]
            current = load_prompts(options.versions / version).definitions[options.qtype]
            proposed = request_revision(settings, options.qtype, options.type_name, current, failures)
            proposal = Proposal(options.qtype, current, proposed)
            adopted = reviewer.decide(proposal)
            decision = "rejected" if adopted is None else "accepted" if adopted == proposal.proposed else "edited"
            new = (
                version
                if adopted is None
                else save_version(options.versions / version, options.versions, options.qtype, adopted)
            )
            state.revision = {"event": "revision", "round": n, "from": version, "to": new, "decision": decision}
            append_event(path, state.revision)
            log(f"round {n}: revision {decision}; version {new}")
    return session


def history(options: Options) -> str:
    """The table of rounds of the last session of the type, then the prompt diff of each revision."""
    path = session_path(options)
    session = read_session(path)
    if session is None:
        raise ValueError(f"no prompt session for type {options.qtype} in {path}")
    rows = [("round", "version", "correct", "wrong", "skip", "correctness", "revision")]
    for n in sorted(session.rounds):
        state = session.rounds[n]
        s = state.summary or {
            "version": session.version,
            "correct": "-",
            "wrong": "-",
            "skip": "-",
            "correctness": None,
        }
        rev = state.revision
        rows.append(
            (
                str(n),
                s["version"],
                str(s["correct"]),
                str(s["wrong"]),
                str(s["skip"]),
                "-" if s["correctness"] is None else f"{s['correctness']:.0%}",
                f"{rev['decision']} -> {rev['to']}" if rev else "",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [f"type {options.qtype} ({options.type_name}), target {session.start['target']:.0%}, {path}"]
    lines += ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    end = session.end
    lines.append(f"ended: {end['reason']}, version {end['version']}" if end else "in progress")
    for n in sorted(session.rounds):
        rev = session.rounds[n].revision
        if rev and rev["decision"] != "rejected":
            lines += [
                "",
                f"round {n}: {rev['from']} -> {rev['to']} ({rev['decision']})",
                version_diff(options.versions, rev["from"], rev["to"]),
            ]
    return "\n".join(lines)
