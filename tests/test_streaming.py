"""The streaming data path: batches built on demand by loader workers give exactly what the main
process builds, and scoring that runs a shared prefix (a question, before its options) once gives what
the reference, a plain forward of each whole sequence, gives."""

import copy

import numpy as np
import polars as pl
import pytest
import torch
from PIL import Image

from dataengine.core.config import validate_config
from dataengine.core.formats import lettered_prompt
from dataengine.core.images import open_rgb
from dataengine.core.streaming import stream
from dataengine.eval.evaluate import METHODS, score_items
from dataengine.eval.reference import reference_scores
from dataengine.model.student import load_student, save_student
from dataengine.train.records import TrainRecord, sample_views
from dataengine.train.training import TrainConfig, fine_tune
from tests.tiny import COLOURS, colour_images, colour_sample, tiny_student, trained_colour_student


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("streaming")
    model, processor, items = trained_colour_student(root)
    # a third question on each image, with options of one to four tokens, so that prefixes are shared
    # unevenly and options are padded
    options = ["blue", "red circle", "yellow", "two blue squares ."]
    extra = items.filter(pl.col("split") == "dev").with_columns(
        id=pl.col("id") + "-x", question=pl.lit("Which colour fills the picture?"), options=pl.lit(options)
    )
    extra = extra.with_columns(answer=pl.Series(["B", "A", "A", "C"]))
    return model, processor, pl.concat([items, extra]), root


def _square(key: int) -> dict:
    return {"key": key, "square": torch.tensor([key * key])}


@pytest.mark.parametrize("workers", [0, 2])
def test_stream_yields_every_batch_in_key_order(workers):
    keys = [3, 1, 4, 1, 5, 9, 2, 6]
    batches = list(stream(_square, keys, workers, "cpu"))
    assert [b["key"] for b in batches] == keys and [int(b["square"]) for b in batches] == [k * k for k in keys]


def test_a_worker_names_the_image_it_cannot_read(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.png"):
        list(stream(open_rgb, [tmp_path / "missing.png"], 1, "cpu"))


@pytest.mark.parametrize("method", ["option_text", "letter", "generate"])
def test_loader_workers_change_nothing_in_the_scores(trained, method):
    model, processor, items, root = trained
    here = score_items(model, processor, items, root, method, batch_size=4)
    workers = score_items(model, processor, items, root, method, batch_size=4, loader_workers=2)
    assert workers.equals(here)


def test_loader_workers_change_nothing_in_training(tmp_path):
    paths = colour_images(tmp_path)
    rng = np.random.default_rng(0)
    records = [
        r for c in COLOURS for r in sample_views(colour_sample(c, paths[c]), tmp_path, ["free", "lettered"], rng)
    ]
    cfg = TrainConfig(steps=6, batch_size=3, lr=1e-2, log_every=2)
    here, here_log = fine_tune(*tiny_student(), records, cfg, seed=0)
    workers, workers_log = fine_tune(*tiny_student(), records, cfg, seed=0, loader_workers=2)
    assert [row["loss"] for row in workers_log["loss"]] == [row["loss"] for row in here_log["loss"]]
    for (name, a), (_, b) in zip(here.state_dict().items(), workers.state_dict().items()):
        assert torch.equal(a, b), name


def test_shared_prefixes_score_as_whole_sequences(trained):
    """Three questions per image in one batch: each question's prompt runs once before its options
    (option text), and the scores are those of the reference, each whole sequence alone."""
    model, processor, items, root = trained
    for method in ("letter", "option_text"):
        batched = score_items(model, processor, items, root, method, batch_size=items.height)["scores"].to_list()
        reference = [scores for _, _, scores in reference_scores(model, processor, items, root, method)]
        for together, alone in zip(batched, reference, strict=True):
            assert together == pytest.approx(alone, abs=1e-4)


# How far a score (a log-probability) may move between batch 1 and any batch size (README, "Batch
# size"): float32 to rounding (measured: 3e-6); bfloat16 to about two units in the last place of the
# logits it rounds (measured on this student: 0.03-0.07 over training runs).
BATCH_TOLERANCE = {"float32": 1e-4, "bfloat16": 0.15}


@pytest.fixture(scope="module")
def saved(trained, tmp_path_factory):
    """The colour student taught to answer the lettered prompts with the letter as well, so that letter
    scores and generated letters have clear winners to keep; saved in float32."""
    model, processor, items, root = trained
    records = [
        TrainRecord(root / item["image"], lettered_prompt(item["question"], item["options"]), item["answer"])
        for item in items.iter_rows(named=True)
    ]
    cfg = TrainConfig(steps=40, batch_size=items.height, lr=1e-2, log_every=10)
    model, _ = fine_tune(copy.deepcopy(model), processor, records, cfg, seed=0)
    folder = tmp_path_factory.mktemp("saved") / "model"
    save_student(model, processor, folder)
    return folder


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("method", METHODS)
def test_scores_do_not_depend_on_the_batch_size(trained, saved, method, dtype):
    """Batch 1 against uneven batches (5) and the configured evaluate.batch_size (all items in one):
    every score within the dtype's tolerance; the same prediction for every item in float32 and for
    every generated reply, and in bfloat16 wherever the two best options are more than twice the
    tolerance apart (closer ones are ties at bfloat16's precision)."""
    _, _, items, root = trained
    model, processor = load_student(saved, dtype=dtype)
    tolerance = BATCH_TOLERANCE[dtype]
    alone = score_items(model, processor, items, root, method, batch_size=1)
    clear = [i for i, s in enumerate(alone["scores"].to_list()) if len(set(s)) > 1 and _margin(s) > 2 * tolerance]
    assert len(clear) >= items.height // 3  # the comparison below is not vacuous
    for batch_size in (5, validate_config({})["evaluate"]["batch_size"]):
        together = score_items(model, processor, items, root, method, batch_size=batch_size)
        for a, b in zip(alone["scores"].to_list(), together["scores"].to_list()):
            assert b == pytest.approx(a, abs=tolerance)
        if dtype == "float32" or method == "generate":
            assert together["prediction"].to_list() == alone["prediction"].to_list()
        assert [together["prediction"][i] for i in clear] == [alone["prediction"][i] for i in clear]


def _margin(scores: list[float]) -> float:
    best, second = sorted(scores)[-2:][::-1]
    return best - second


def test_an_unreadable_benchmark_image_is_named_from_a_worker(trained, tmp_path):
    model, processor, items, root = trained
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "images").mkdir()
    for image in items["image"].unique():
        Image.open(root / image).save(broken / image)
    (broken / "images" / "yellow.png").write_bytes(b"not a png")
    with pytest.raises(FileNotFoundError, match="yellow.png"):
        score_items(model, processor, items, broken, "letter", batch_size=3, loader_workers=1)
