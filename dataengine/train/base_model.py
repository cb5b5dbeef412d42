"""The offline base model: a tiny student built from configs (LLaVA's architecture by default, any
supported family's with `student.family`), then trained in two stages.

1. Caption (alignment) stage on dense captions of pool images: this is what makes objects, colours,
   counts and positions learnable at all for a model trained from random weights.
2. Instruction stage on a deliberately imbalanced seed set, so that some question types start weak
   for lack of data (not of capacity) and the loop has something to fix.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np

from dataengine.core.formats import CAPTION_QUESTION, question_prompt
from dataengine.data.synthetic.captions import corpus
from dataengine.model.families import TINY_DEFAULT
from dataengine.model.student import build_tiny_student, save_student
from dataengine.train.checkpoint import checkpoint_dir_for
from dataengine.train.records import TrainRecord, sample_views
from dataengine.train.training import TrainConfig, fine_tune

log = logging.getLogger("dataengine")
FROM_SCRATCH = {"method": "full", "vision_tower": "full"}


def caption_records(pool: list[dict], pool_dir: Path) -> list[TrainRecord]:
    """One caption record per pool image (its first caption)."""
    prompt = question_prompt(CAPTION_QUESTION)
    return [TrainRecord(Path(pool_dir) / r["image"], prompt, r["captions"][0]) for r in pool if r["captions"]]


def build(
    pool: list[dict],
    pool_dir: Path,
    seed_samples: list[dict],
    out_dir: Path,
    tiny: dict,
    image_size: int,
    views: list[str],
    seed: int,
    loader_workers: int = 0,
    family: str = TINY_DEFAULT,
) -> dict:
    """Build, pre-train and save the tiny student of `family` (with the training log of both stages).
    Every part trains, its vision tower included: all start from random weights. Each stage
    checkpoints beside `out_dir`, so a killed build resumes in the stage it was in."""
    checkpoints = checkpoint_dir_for(out_dir)
    model, processor = build_tiny_student(corpus(), tiny["arch"], image_size=image_size, seed=seed, family=family)

    captions = caption_records(pool, pool_dir)
    log.info("caption stage: %d captions, %d steps", len(captions), tiny["caption"]["steps"])
    model, caption_log = fine_tune(
        model,
        processor,
        captions,
        TrainConfig.from_config({**FROM_SCRATCH, **tiny["caption"]}),
        seed=seed,
        checkpoint_dir=checkpoints / "caption",
        loader_workers=loader_workers,
    )

    rng = np.random.default_rng([seed, 0])
    instructions = [r for s in seed_samples for r in sample_views(s, pool_dir, views, rng)]
    stage = tiny["seed_set"]["train"]
    log.info(
        "instruction stage: %d seed samples, %d records, %d steps", len(seed_samples), len(instructions), stage["steps"]
    )
    model, seed_log = fine_tune(
        model,
        processor,
        instructions,
        TrainConfig.from_config({**FROM_SCRATCH, **stage}),
        seed=seed + 1,
        checkpoint_dir=checkpoints / "seed_set",
        loader_workers=loader_workers,
    )
    train_log = {"caption": caption_log, "seed_set": seed_log}
    save_student(model, processor, out_dir, train_log=train_log)
    shutil.rmtree(checkpoints, ignore_errors=True)
    return train_log
