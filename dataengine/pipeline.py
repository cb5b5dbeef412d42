"""The loop's jobs as file-to-file functions: what each Snakemake rule (and the CLI) runs, one function
per rule, named as the rule.

Each function reads its input files, calls its stage's library module (named as the rule too, hence
the qualified `dataengine.<stage>` calls) and writes its outputs, nothing else: the science lives in
the stage modules, the file layout in rules/common.smk. Outputs are written whole or not at all
(temp file + rename), so a killed job never leaves a file that a rerun would take for complete.
Stages that need torch are imported inside their job, so the CPU-only jobs run without it.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Mapping
from functools import partial
from pathlib import Path

import polars as pl

import dataengine.data.benchmark
import dataengine.data.contamination
import dataengine.data.pool
import dataengine.report.experiment
import dataengine.sampling.embedding
import dataengine.sampling.plan
import dataengine.teacher
import dataengine.teacher.validate
from dataengine.core.jsonl import read_json, read_jsonl, write_json, write_jsonl
from dataengine.core.qtypes import TypeTable, run_types
from dataengine.core.tracking import report_evaluation, tracker
from dataengine.model.families import TINY_DEFAULT

log = logging.getLogger("dataengine")


def _set_threads(cpus: int, loader_workers: int = 0) -> None:
    """Torch threads for a job of `cpus` CPUs: those its loader workers leave (at least one)."""
    import torch

    torch.set_num_threads(max(1, int(cpus) - loader_workers))


def build_benchmark(out_items: str, qtypes: list, cfg: dict, seed: int) -> None:
    """The benchmark of the types `qtypes` (ids, or the benchmark's own category names)."""
    if cfg["kind"] != "synthetic":
        from dataengine.data.benchmarks import build_real_benchmark

        types = run_types({"benchmark": cfg, "qtypes": qtypes})
        build_real_benchmark(cfg["kind"], Path(out_items).parent, cfg, types, seed)
        return
    items = dataengine.data.benchmark.build_synthetic_benchmark(
        Path(out_items).parent,
        qtypes=qtypes,
        n_dev=cfg["dev_per_type"],
        n_test=cfg["test_per_type"],
        seed=seed,
        image_size=cfg["image_size"],
        world=cfg["world"],
    )
    log.info("benchmark: %d items over %d types", items.height, len(qtypes))


def build_pool(
    benchmark_items: str,
    out_annotations: str,
    qtypes: list[int] | None,
    cfg: dict,
    image_size: int,
    seed: int,
    world: str = "default",
) -> None:
    benchmark_dir = Path(benchmark_items).parent
    items = dataengine.data.benchmark.load_items(benchmark_items)
    exclude = dataengine.data.contamination.benchmark_hashes(items, benchmark_dir)
    if cfg["kind"] != "synthetic":
        from dataengine.data.pools import build_real_pool

        built = build_real_pool(cfg["kind"], Path(out_annotations).parent, cfg, exclude, seed)
        log.info(
            "pool %s: %d images; dropped %d holding a benchmark image (content hash): %s; %d repeated images",
            cfg["kind"],
            len(built.records),
            len(built.benchmark_images),
            built.benchmark_images[:20],
            len(built.duplicates),
        )
        return
    records = dataengine.data.pool.build_synthetic_pool(
        Path(out_annotations).parent,
        n_images=cfg["images"],
        seed=seed,
        qtypes=qtypes,
        exclude_sha256=exclude,
        image_size=image_size,
        world=world,
    )
    log.info("pool: %d images, none of the benchmark's %d", len(records), len(exclude))


def seed_set(
    pool_annotations: str,
    out_queries: str,
    out_accepted: str,
    out_rejected: str,
    out_stats: str,
    per_type: dict[str, int],
    qtypes: list[int],
    teacher: dict,
    seed: int,
) -> None:
    """The base model's instruction data: fixed, deliberately imbalanced quotas from the teacher for
    the types `qtypes` (those it writes for), and what they cost (the seed set's generation.json)."""
    quotas = {int(t): n for t, n in per_type.items() if int(t) in qtypes}
    pool_dir = Path(pool_annotations).parent
    queries = dataengine.sampling.plan.plan_queries(
        quotas=quotas,
        bad_cases=[],
        pool=dataengine.data.pool.load_pool(pool_annotations),
        benchmark_dir=pool_dir,
        pool_dir=pool_dir,
        used_image_ids=set(),
        iteration=0,
        cfg={},
        seed=seed,
    )
    write_jsonl(out_queries, queries)
    generation = dataengine.teacher.generate_with_stats(queries, teacher, seed=seed, step=out_stats)
    write_json(out_stats, generation.stats)
    _validate(generation.responses, queries, 0, teacher, out_accepted, out_rejected)


def _validate(responses, queries, iteration, teacher_cfg, out_accepted, out_rejected, guard=None):
    accepted, rejected = dataengine.teacher.validate.validate(
        responses, queries, iteration=iteration, prompt_version=teacher_cfg["prompt_version"]
    )
    if guard is not None:
        accepted, dropped = guard(accepted)
        rejected += dropped
    write_jsonl(out_rejected, rejected)
    write_jsonl(out_accepted, accepted)
    reasons = pl.DataFrame({"reason": [r["reason"] for r in rejected]}, schema={"reason": pl.String})
    log.info(
        "iteration %d: %d accepted, %d rejected %s",
        iteration,
        len(accepted),
        len(rejected),
        dict(reasons["reason"].value_counts().iter_rows()),
    )


def base_model(
    pool_annotations: str,
    seed_set: str,
    out_dir: str,
    tiny: dict,
    image_size: int,
    views: list[str],
    seed: int,
    threads: int,
    loader_workers: int = 0,
    family: str = "auto",
) -> None:
    """The tiny student of `family` (auto: LLaVA's architecture), built and trained on the pool's
    captions and the seed set."""
    _set_threads(threads, loader_workers)
    import dataengine.train.base_model

    dataengine.train.base_model.build(
        pool=dataengine.data.pool.load_pool(pool_annotations),
        pool_dir=Path(pool_annotations).parent,
        seed_samples=read_jsonl(seed_set),
        out_dir=Path(out_dir),
        tiny=tiny,
        image_size=image_size,
        views=views,
        seed=seed,
        loader_workers=loader_workers,
        family=TINY_DEFAULT if family == "auto" else family,
    )


def evaluate(
    model_dir: str,
    items: str,
    out_predictions: str,
    out_metrics: str,
    out_bad_cases: str,
    scoring: str,
    batch_size: int,
    threads: int,
    dtype: str = "float32",
    extractor: dict | None = None,
    loader_workers: int = 0,
    family: str = "auto",
    report_to: str = "none",
    types: TypeTable | None = None,
) -> None:
    """`family` is student.family: what the model folder must hold, unless auto. `extractor` is the
    evaluate.extractor section: with `generate` scoring and kind `openai`, an LLM reads the replies the
    rules cannot. It is built (its key read) before the model is loaded; an endpoint that fails for
    good stops the job (dataengine.eval.extractor). `loader_workers` processes read the images ahead.
    `report_to` sends the accuracies, named by `types`, to TensorBoard or W&B too (core.tracking)."""
    _set_threads(threads, loader_workers)
    import dataengine.eval.evaluate
    from dataengine.eval.extractor import build_extractor
    from dataengine.model.student import load_student

    extract = build_extractor(extractor) if scoring == "generate" else None
    if scoring != "generate" and (extractor or {}).get("kind", "none") != "none":
        log.warning("evaluate.extractor is ignored: it reads generated replies, and scoring is %s", scoring)
    table = dataengine.data.benchmark.load_items(items)
    model, processor = load_student(model_dir, dtype=dtype, family=family)
    predictions = dataengine.eval.evaluate.score_items(
        model,
        processor,
        table,
        image_root=Path(items).parent,
        method=scoring,
        batch_size=batch_size,
        extractor=extract,
        loader_workers=loader_workers,
    )
    metrics = dataengine.eval.evaluate.metrics(predictions, scoring)
    if extract is not None:
        metrics["extractor"] = extract.stats()
        read = metrics["extraction"].get("llm", 0)
        log.info("choice extractor: asked about %d replies, read %d", extract.asked, read)
    write_jsonl(out_bad_cases, dataengine.eval.evaluate.bad_cases(predictions, table))
    write_json(out_metrics, metrics)
    predictions.write_parquet(out_predictions)
    report_evaluation(report_to, metrics, Path(out_metrics), types)
    for split, result in metrics["splits"].items():
        log.info("%s: %.1f %% of %d", split, result["overall"]["acc"], result["overall"]["n"])


def plan(
    metrics: str,
    bad_cases: str,
    pool_annotations: str,
    benchmark_images: str,
    used_queries: list[str],
    out_quotas: str,
    out_queries: str,
    iteration: int,
    cfg: dict,
    seed: int,
    pool_embeddings: str,
    retrieval: dict,
    earlier_metrics: list[str],
    earlier_quotas: list[str],
) -> None:
    """Plan iteration `iteration`'s data from the evaluation of the iteration before (`metrics`,
    `bad_cases`); similar images are ranked by the `retrieval` encoder, the pool's rows read from its
    cache. The earlier evaluations and the quotas planned from them (oldest first) show the gain rule
    what each type's data bought."""
    used = {q["image_id"] for path in used_queries for q in read_jsonl(path)}
    encoder = dataengine.sampling.embedding.image_encoder(retrieval)
    embed = dataengine.sampling.embedding.cached(encoder, Path(pool_embeddings), Path(pool_annotations).parent)
    quotas, queries = dataengine.sampling.plan.plan_iteration(
        metrics=read_json(metrics),
        bad_cases=read_jsonl(bad_cases),
        pool=dataengine.data.pool.load_pool(pool_annotations),
        benchmark_dir=Path(benchmark_images).parent,
        pool_dir=Path(pool_annotations).parent,
        used_image_ids=used,
        iteration=iteration,
        cfg=cfg,
        seed=seed,
        embed=embed,
        history=[(read_json(m), read_json(q)) for m, q in zip(earlier_metrics, earlier_quotas, strict=True)],
    )
    write_jsonl(out_queries, queries)
    write_json(out_quotas, quotas)
    log.info("plan %d (%s): quotas %s", iteration, cfg["strategy"], quotas["quotas"])


def compare_strategies(
    arms: list[dict], default: str, types: TypeTable, out_json: str, out_md: str, out_plot: str
) -> None:
    """experiment.json/.md/.png from every arm's files: {"seed", "strategy", "summary": its summary.json,
    "predictions": its predictions.parquet per iteration}."""
    read = [
        {**arm, "summary": read_json(arm["summary"]), "predictions": list(map(pl.read_parquet, arm["predictions"]))}
        for arm in arms
    ]
    result = dataengine.report.experiment.compare(read, default, types)
    write_json(out_json, result)
    dataengine.report.experiment.write_markdown(result, Path(out_md), types)
    dataengine.report.experiment.plot(result, Path(out_plot))
    for name, entry in result["strategies"].items():
        log.info("%s: weak-type accuracy per iteration %s", name, entry["weak_mean"])


def embed_pool(
    pool_annotations: str, out_embeddings: str, retrieval: dict, threads: int, loader_workers: int = 0
) -> None:
    """Embed every pool image once per run: the cache the plan rule ranks similar images from."""
    _set_threads(threads, loader_workers)
    pool_dir = Path(pool_annotations).parent
    images = [record["image"] for record in dataengine.data.pool.load_pool(pool_annotations)]
    vectors = dataengine.sampling.embedding.image_encoder(retrieval, loader_workers)(
        [pool_dir / image for image in images]
    )
    dataengine.sampling.embedding.save_embeddings(Path(out_embeddings), images, vectors)
    log.info(
        "embedded %d pool images with the %s encoder (dimension %d)",
        len(images),
        retrieval["encoder"],
        vectors.shape[1],
    )


def generate(queries: str, out_responses: str, out_stats: str, teacher: dict, seed: int) -> None:
    """The teacher's responses and its accounting (calls, cache hits, tokens, cost, failures); the
    cost is the ledger's for this step, `out_stats`, over every attempt."""
    generation = dataengine.teacher.generate_with_stats(read_jsonl(queries), teacher, seed=seed, step=out_stats)
    write_json(out_stats, generation.stats)
    write_jsonl(out_responses, generation.responses)


def validate(
    responses: str,
    queries: str,
    out_accepted: str,
    out_rejected: str,
    iteration: int,
    teacher: dict,
    benchmark_items: str,
    contamination_cfg: dict,
) -> None:
    """Validate the teacher's replies and, where `contamination_cfg` checks questions for this kind
    of benchmark, drop samples that near-duplicate a benchmark item (reason `contamination`)."""
    guard = None
    if dataengine.data.contamination.questions_checked(
        contamination_cfg["questions"], contamination_cfg["benchmark_kind"]
    ):
        index = dataengine.data.contamination.QuestionIndex.build(dataengine.data.benchmark.load_items(benchmark_items))
        threshold = contamination_cfg["threshold"]
        guard = partial(dataengine.data.contamination.drop_near_duplicates, index=index, threshold=threshold)
    _validate(read_jsonl(responses), read_jsonl(queries), iteration, teacher, out_accepted, out_rejected, guard)


def train(
    model_dir: str,
    accepted: str | None,
    replay_sources: list[str],
    pool_images: str,
    out_dir: str,
    iteration: int,
    cfg: dict,
    seed: int,
    threads: int,
    dtype: str = "float32",
    workers_log: str | None = None,
    loader_workers: int = 0,
    base_records: str | None = None,
    base_images: str | None = None,
    family: str = "auto",
    report_to: str = "none",
) -> None:
    """Fine-tune `model_dir` (of student.family `family`, unless auto; dataengine.train.training.train_round):
    incremental, on this iteration's accepted samples plus replay of earlier ones; from_start, on the
    base data's records (`base_records`, images under `base_images`) and every engine sample so far. A
    LoRA run keeps its adapter in `<model>/adapter`. `processes` per node x `nodes` > 1 run as that many processes
    (dataengine.train.distributed), their output in `workers_log` (default `<out_dir>.workers.log`).
    `report_to` sends the training curves to TensorBoard or W&B too (dataengine.core.tracking)."""
    from dataengine.train import distributed

    processes, nodes = cfg.get("processes", 1), cfg.get("nodes", 1)
    if processes * nodes > 1 and not distributed.started():
        job = {
            key: value
            for key, value in locals().items()
            if key not in ("distributed", "workers_log", "processes", "nodes")
        }  # the arguments
        distributed.launch(processes, train, job, workers_log or f"{out_dir}.workers.log", nodes)
        return
    _set_threads(threads // processes, loader_workers)  # the node's threads, shared by its processes
    from dataengine.model.student import load_student, save_student, umask_modes
    from dataengine.train.checkpoint import checkpoint_dir_for
    from dataengine.train.conversations import RecordFile
    from dataengine.train.training import train_round

    model, processor = load_student(model_dir, dtype=dtype, family=family)
    adapter = Path(out_dir).with_name(Path(out_dir).name + ".adapter")  # beside: save_student replaces out_dir
    if distributed.is_main():
        shutil.rmtree(adapter, ignore_errors=True)
    run_dir = Path(out_dir).parents[1]  # <run>/iter_<i>/model
    track = tracker(report_to, run_dir, f"train_{iteration}") if distributed.is_main() else None
    model, train_log = train_round(
        model,
        processor,
        new=read_jsonl(accepted) if accepted else [],
        earlier=[s for path in replay_sources for s in read_jsonl(path)],
        image_root=Path(pool_images).parent,
        cfg=cfg,
        iteration=iteration,
        seed=seed,
        checkpoint_dir=checkpoint_dir_for(out_dir),
        adapter_dir=adapter,
        loader_workers=loader_workers,
        base=RecordFile(base_records, base_images) if base_records else (),
        on_log=None if track is None else track.log,
    )
    if track is not None:
        track.close()
    if not distributed.is_main():
        return
    save_student(model, processor, out_dir, train_log=train_log)
    if adapter.exists():
        umask_modes(adapter)
        os.replace(adapter, Path(out_dir) / "adapter")
    shutil.rmtree(checkpoint_dir_for(out_dir), ignore_errors=True)  # only once the model is in place
    log.info(
        "train %d: %d base records + %d new and %d replayed samples, %d records",
        iteration,
        train_log["base_records"],
        train_log["new_samples"],
        train_log["replay_samples"],
        train_log["records"],
    )


def report(
    run: str,
    config_hash: str,
    metrics: list[str],
    bad_cases: list[str],
    plans: list[str],
    queries: list[str],
    accepted: list[str],
    rejected: list[str],
    generation: list[str],
    models: list[str],
    pool_images: str,
    benchmark_images: str,
    timings: list[str],
    config_file: str,
    types: TypeTable,
    out: Mapping[str, str],
    reported: dict[str, list[str]] | None = None,
) -> None:
    """The report folder (`out`: a path per file of dataengine.report.build.OUTPUTS) from the run's files;
    `timings`: Snakemake's benchmark folders; `config_file`: the resolved config; `reported`: metrics.json
    by report benchmark."""
    from dataengine.report.build import write_report
    from dataengine.report.run import load_run

    loaded = load_run(
        run,
        config_hash,
        metrics,
        bad_cases,
        plans,
        queries,
        accepted,
        rejected,
        generation,
        models,
        Path(pool_images).parent,
        Path(benchmark_images).parent,
        types,
        timings,
    )
    reported_metrics = {name: [read_json(path) for path in paths] for name, paths in (reported or {}).items()}
    config_text = Path(config_file).read_text(encoding="utf-8") if Path(config_file).is_file() else ""
    write_report(loaded, models, reported_metrics, config_text, out)
