"""A run's generated data as a Hugging Face dataset: parquet shards with the images embedded, which
`datasets.load_dataset("parquet", data_dir=...)` opens, and a dataset card (README.md) made from the
run: its student, benchmark, teacher and prompt versions, samples per type and iteration, what
validation rejected and why, what the teacher cost, and whose images these are.

Shards hold SHARD_ROWS samples each and are written one at a time, so a large run's images are never
all in memory. The image column carries `datasets`' Image feature (a struct of bytes and path, named
in the schema's `huggingface` metadata, where `datasets` looks), so it loads as pictures.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from dataengine.core.config import run_config
from dataengine.core.jsonl import read_json, read_jsonl
from dataengine.core.layout import RunLayout
from dataengine.core.qtypes import TypeTable, run_types
from dataengine.data.exchange import read_accepted

SHARD_ROWS = 1000
# Arrow types exactly as `datasets` writes its features (string, not large_string ...): a field's
# feature in the metadata is used only where its type matches.
COLUMNS = pa.schema(
    [
        ("id", pa.string()),
        ("image", pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
        ("question", pa.string()),
        ("options", pa.list_(pa.string())),
        ("answer", pa.string()),
        ("answer_text", pa.string()),
        ("short_answer", pa.string()),
        ("qtype", pa.int64()),
        ("qtype_name", pa.string()),
        ("iteration", pa.int64()),
        ("teacher", pa.string()),
        ("prompt_version", pa.string()),
        ("source_id", pa.string()),
    ]
)
FEATURES = {
    "id": {"dtype": "string", "_type": "Value"},
    "image": {"_type": "Image"},
    "question": {"dtype": "string", "_type": "Value"},
    "options": {"feature": {"dtype": "string", "_type": "Value"}, "_type": "List"},
    "answer": {"dtype": "string", "_type": "Value"},
    "answer_text": {"dtype": "string", "_type": "Value"},
    "short_answer": {"dtype": "string", "_type": "Value"},
    "qtype": {"dtype": "int64", "_type": "Value"},
    "qtype_name": {"dtype": "string", "_type": "Value"},
    "iteration": {"dtype": "int64", "_type": "Value"},
    "teacher": {"dtype": "string", "_type": "Value"},
    "prompt_version": {"dtype": "string", "_type": "Value"},
    "source_id": {"dtype": "string", "_type": "Value"},
}
# Whose images the samples show, by pool kind (what the card says about licences).
IMAGE_LICENCES = {
    "synthetic": "Rendered by dataengine from code (dataengine/data/synthetic): no third-party images.",
    "coco": "COCO 2017 images: each under its Flickr licence (the `license` of the image in COCO's "
    "annotations); COCO's annotations: CC BY 4.0. See https://cocodataset.org/#termsofuse.",
    "visual_genome": "Visual Genome images and annotations: CC BY 4.0 (https://homes.cs.washington.edu/~ranjay/visualgenome/).",
}


def export_dataset(run_dir: Path, out: Path, with_seed_set: bool = False) -> dict[int, int]:
    """Write the run's accepted samples to out/data/train-*.parquet and the card to out/README.md;
    the samples written per iteration."""
    config = run_config(run_dir)
    types = run_types(config)
    layout = RunLayout.of(run_dir, config.get("base_run"))
    first = 0 if with_seed_set else 1
    files = {i: Path(layout.accepted(i)) for i in range(first, config["iterations"] + 1)}
    files = {i: path for i, path in files.items() if path.is_file()}
    if not files:
        raise FileNotFoundError(f"{run_dir}: no accepted.jsonl to export (has the run generated data yet?)")
    counts = {i: sum(1 for _ in path.open(encoding="utf-8")) for i, path in files.items()}
    total = sum(counts.values())
    shards = max(1, -(-total // SHARD_ROWS))
    data = out / "data"
    data.mkdir(parents=True, exist_ok=True)
    for stale in data.glob("train-*.parquet"):
        stale.unlink()
    schema = COLUMNS.with_metadata({"huggingface": json.dumps({"info": {"features": FEATURES}})})
    written: Counter = Counter()  # (iteration, qtype, teacher, prompt version) of every sample, for the card
    for n, rows in enumerate(_batches(_rows(files, Path(layout.pool), types), SHARD_ROWS)):
        pq.write_table(pa.Table.from_pylist(rows, schema=schema), data / f"train-{n:05d}-of-{shards:05d}.parquet")
        written.update((row["iteration"], row["qtype"], row["teacher"], row["prompt_version"]) for row in rows)
    (out / "README.md").write_text(card(config, types, layout, list(files), written), encoding="utf-8")
    return counts


def _rows(files: dict[int, Path], pool: Path, types: TypeTable) -> Iterator[dict]:
    """The samples as dataset rows (`types` name their types), their images read; one file's samples
    at a time."""
    for path in files.values():
        for sample in read_accepted(path):
            image = pool / sample["image"]
            if not image.is_file():
                raise FileNotFoundError(f"{path}: sample {sample['id']!r}: its image {image} is missing")
            yield {
                "id": sample["id"],
                "image": {"bytes": image.read_bytes(), "path": image.name},
                "question": sample["instruction"],
                "options": sample["options"],
                "answer": sample["choice_answer"],
                "answer_text": sample["answer"],
                "short_answer": sample["short_answer"],
                "qtype": sample["qtype"],
                "qtype_name": types.name(sample["qtype"]),
                "iteration": sample["iteration"],
                "teacher": sample["teacher"],
                "prompt_version": sample["prompt_version"],
                "source_id": sample["source_id"],
            }


def _batches(rows: Iterator[dict], size: int) -> Iterator[list[dict]]:
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def card(config: dict, types: TypeTable, layout: RunLayout, iterations_exported: list[int], written: Counter) -> str:
    """The dataset card: YAML metadata the hub reads, then the run's account of the data (`written`:
    the samples exported, by iteration, type, teacher and prompt version; `types`: the run's)."""
    per_type: Counter = Counter()
    for (i, qtype, _, _), n in written.items():
        per_type[(i, qtype)] += n
    teachers = {teacher for _, _, teacher, _ in written}
    iterations = []
    for i in iterations_exported:
        rejected_file = Path(layout.rejected(i))
        rejected = Counter(row["reason"] for row in read_jsonl(rejected_file)) if rejected_file.is_file() else {}
        generation_file = Path(layout.generation(i))
        generation = read_json(generation_file) if generation_file.is_file() else {}
        versions = sorted({version for j, _, _, version in written if j == i})
        accepted = sum(n for (j, *_), n in written.items() if j == i)
        iterations.append((i, accepted, rejected, generation.get("cost_usd"), versions))
    qtypes = sorted({qtype for _, qtype in per_type})
    header = {
        "pretty_name": f"dataengine run {config['run']}",
        "task_categories": ["visual-question-answering"],
        "language": ["en"],
        "tags": ["multiple-choice", "synthetic", "dataengine"],
        "configs": [{"config_name": "default", "data_files": [{"split": "train", "path": "data/train-*"}]}],
    }
    lines = [
        "---",
        yaml.safe_dump(header, sort_keys=False).strip(),
        "---",
        "",
        f"# dataengine run `{config['run']}`",
        "",
        "Multiple-choice instruction data a teacher wrote for a student's weak question types, made by",
        "dataengine (the MLLM-DataEngine loop, arXiv 2308.13566): each sample is an image, a question,",
        "four options and the answer's letter (`answer`), with the answer as a sentence (`answer_text`)",
        "and its type (`qtype`, `qtype_name`).",
        "",
        "| | |",
        "|---|---|",
        f"| student | `{config['student']['base']}` (family {config['student']['family']}) |",
        f"| benchmark | {_benchmark(config['benchmark'])} |",
        f"| teacher | {', '.join(f'`{teacher}`' for teacher in sorted(teachers))} (the samples' own record) |",
        f"| iterations | {', '.join(str(i) for i in iterations_exported)} of {config['iterations']} |",
        f"| recommended model | {_recommended(Path(layout.report) / 'summary.json')} |",
        "",
        "## Samples per type and iteration",
        "",
        "| type | " + " | ".join(f"iteration {i}" for i in iterations_exported) + " |",
        "|---|" + "---:|" * len(iterations_exported),
    ]
    lines += [
        f"| {types.name(qtype)} | " + " | ".join(str(per_type[(i, qtype)]) for i in iterations_exported) + " |"
        for qtype in qtypes
    ]
    lines += [
        "",
        "## Generation, validation and cost",
        "",
        "| iteration | accepted | rejected (reason: count) | teacher USD | prompt versions |",
        "|---:|---:|---|---:|---|",
    ]
    for i, accepted, rejected, cost, versions in iterations:
        reasons = ", ".join(f"{reason}: {n}" for reason, n in sorted(rejected.items())) or "none"
        usd = "n/a" if cost is None else f"{cost:.4f}"
        lines.append(f"| {i} | {accepted} | {reasons} | {usd} | {', '.join(f'`{v}`' for v in versions)} |")
    lines += [
        "",
        "Rejected replies are not in the dataset; each reason is a check of dataengine's validation",
        "(docs/contracts.md). A prompt version names the teacher's prompt file by its content.",
        "",
        "## Images and licences",
        "",
        IMAGE_LICENCES.get(config["pool"]["kind"], f"Pool kind {config['pool']['kind']}: see its source."),
        "The questions and answers were written by the teacher above; its provider's terms apply to them.",
        "",
    ]
    return "\n".join(lines)


def _recommended(summary: Path) -> str:
    """The model the run recommends (its report's summary.json `best`), or why there is none yet."""
    best = read_json(summary).get("best") if summary.is_file() else None
    if not best:
        return "none yet (the run has no report)"
    return (
        f"`{best['model']}` (iteration {best['iteration']}): dev {best['dev_overall']:.1f} %, test "
        f"{best['test_overall']:.1f} %, chosen on the dev split alone (the run's report/best.json)"
    )


def _benchmark(bench: dict) -> str:
    if bench["kind"] == "synthetic":
        return f"synthetic (world {bench['world']}, {bench['image_size']} px)"
    return f"{bench['kind']} (`{bench.get('path')}`)"
