"""Rendering speed of the synthetic world: scenes per second drawn, and drawn and PNG-encoded (what
the benchmark and pool builders write), for each question type's scene family.

Usage: python bench/render.py [--scenes 1200] [--image-size 64]
This was a test asserting 1,200 scenes in under 2 s; a wall-clock figure depends on the machine's
load, so it is printed here rather than failing a test on a busy machine.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from dataengine.core.qtypes import SEED_TYPES
from dataengine.data.synthetic import render, scenes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=1200, help="scenes per type")
    parser.add_argument("--image-size", type=int, default=64)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    totals = {render.render: 0.0, render.render_png: 0.0}
    print(f"{'type':<6}{'drawn/s':>10}{'as PNG/s':>10}")
    for qtype in SEED_TYPES:
        drawn = [scenes.scene_for_type(qtype, rng) for _ in range(args.scenes)]
        rates = []
        for draw in totals:
            start = time.perf_counter()
            for scene in drawn:
                draw(scene, args.image_size)
            seconds = time.perf_counter() - start
            totals[draw] += seconds
            rates.append(len(drawn) / seconds)
        print(f"{qtype:<6}" + "".join(f"{rate:>10.0f}" for rate in rates))
    n = args.scenes * len(SEED_TYPES)
    print(
        f"{'all':<6}"
        + "".join(f"{n / seconds:>10.0f}" for seconds in totals.values())
        + f"   ({n} scenes of {args.image_size} px)"
    )


if __name__ == "__main__":
    main()
