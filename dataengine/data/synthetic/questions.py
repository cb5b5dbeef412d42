"""The multiple-choice items of every question type: what a scene answers (`question_variants`) and
one item drawn from it (`make_question`). Item semantics live here only, so the benchmark and the
oracle teacher ask the same questions and the validator checks a teacher's answer against the scene."""

import numpy as np

from dataengine.core.qtypes import SEED_TYPES
from dataengine.data.synthetic.geometry import (
    area,
    distinct_colors,
    interaction,
    pairwise_disjoint,
    quadrant_of,
    spatial_relation,
)
from dataengine.data.synthetic.world import (
    A_ATTRIBUTE,
    A_COUNT,
    A_IDENTITY,
    A_LARGEST,
    A_LOCATION,
    A_SCENE,
    A_TEXT,
    CAPTION_COUNT_ONE,
    CAPTION_PAIR,
    COLORS,
    COUNT_WORDS,
    GLYPHS,
    INTERACTION_PHRASE,
    INTERACTIONS,
    MIN_LARGEST_RATIO,
    Q_ATTRIBUTE,
    Q_COUNT,
    Q_IDENTITY,
    Q_INTERACTION,
    Q_LARGEST,
    Q_LOCATION,
    Q_SCENE,
    Q_SPATIAL,
    Q_TEXT,
    QUADRANTS,
    SCENE_KINDS,
    SHAPES,
    SPATIAL,
    SPATIAL_PHRASE,
    Question,
    Scene,
    Variant,
)


def _pair_variants(scene: Scene, relate, phrases: dict, question: str, family) -> list[Variant]:
    """Questions about how one of two objects stands to the other (spatial relation, interaction):
    asked both ways round, wherever `relate` gives an unambiguous answer."""
    if len(scene.objects) != 2 or not distinct_colors(scene):
        return []
    variants = []
    for subject, other in (scene.objects, scene.objects[::-1]):
        answer = relate(subject.box, other.box)
        if answer is not None:
            sentence = CAPTION_PAIR.format(subject=subject.name, relation=phrases[answer], other=other.name)
            variants.append(Variant(question.format(subject=subject.name, other=other.name), answer, sentence, family))
    return variants


def spatial_variants(scene: Scene) -> list[Variant]:
    return _pair_variants(scene, spatial_relation, SPATIAL_PHRASE, Q_SPATIAL, SPATIAL)


def interaction_variants(scene: Scene) -> list[Variant]:
    return _pair_variants(scene, interaction, INTERACTION_PHRASE, Q_INTERACTION, INTERACTIONS)


def _largest_variants(scene: Scene) -> list[Variant]:
    if not 2 <= len(scene.objects) <= 3 or not distinct_colors(scene) or not pairwise_disjoint(scene.objects):
        return []
    by_area = sorted(scene.objects, key=lambda o: area(o.box), reverse=True)
    if area(by_area[0].box) < MIN_LARGEST_RATIO * area(by_area[1].box):
        return []
    largest = by_area[0].color
    others = tuple(o.color for o in by_area[1:])
    return [Variant(Q_LARGEST, largest, A_LARGEST.format(answer=largest), tuple(COLORS), others)]


def _single_object_variants(qtype: int, scene: Scene) -> list[Variant]:
    if len(scene.objects) != 1:
        return []
    obj = scene.objects[0]
    if qtype == 2:
        return [
            Variant(
                Q_IDENTITY.format(color=obj.color),
                obj.shape,
                A_IDENTITY.format(color=obj.color, answer=obj.shape),
                SHAPES,
            )
        ]
    if qtype == 3:
        return [
            Variant(
                Q_ATTRIBUTE.format(shape=obj.shape),
                obj.color,
                A_ATTRIBUTE.format(shape=obj.shape, answer=obj.color),
                tuple(COLORS),
            )
        ]
    quadrant = quadrant_of(obj.box)
    if quadrant is None:
        return []
    return [
        Variant(
            Q_LOCATION.format(name=obj.name), quadrant, A_LOCATION.format(name=obj.name, answer=quadrant), QUADRANTS
        )
    ]


def question_variants(qtype: int, scene: Scene) -> list[Variant]:
    """Every question of this type the scene answers unambiguously (empty: the type is unsupported)."""
    if qtype not in SEED_TYPES:
        raise ValueError(f"unknown question type {qtype!r}; known ids: {sorted(SEED_TYPES)}")
    if qtype == 1:
        kind = SCENE_KINDS[scene.background]
        return [Variant(Q_SCENE, kind, A_SCENE.format(answer=kind), tuple(SCENE_KINDS.values()))]
    if qtype in (2, 3, 4):
        return _single_object_variants(qtype, scene)
    if qtype == 5:
        n = len(scene.objects)
        if not 1 <= n <= len(COUNT_WORDS) or not pairwise_disjoint(scene.objects):
            return []
        word = COUNT_WORDS[n - 1]
        sentence = CAPTION_COUNT_ONE if n == 1 else A_COUNT.format(answer=word)
        return [Variant(Q_COUNT, word, sentence, COUNT_WORDS)]
    if qtype == 6:
        return spatial_variants(scene)
    if qtype == 7:
        return interaction_variants(scene)
    if qtype == 8:
        return _largest_variants(scene)
    if scene.text is None:
        return []
    return [Variant(Q_TEXT, scene.text, A_TEXT.format(answer=scene.text), GLYPHS)]


def supported_types(scene: Scene) -> list[int]:
    return [qtype for qtype in SEED_TYPES if question_variants(qtype, scene)]


def make_question(qtype: int, scene: Scene, rng: np.random.Generator) -> Question | None:
    """One item of this type: a random variant, 3 distractors from its family (hard ones first), the
    correct option at a random position. None when the scene does not support the type."""
    variants = question_variants(qtype, scene)
    if not variants:
        return None
    variant = variants[rng.integers(len(variants))]
    hard = [d for d in variant.hard_distractors if d != variant.answer]
    rest = [d for d in variant.family if d != variant.answer and d not in hard]
    distractors = list(rng.permutation(hard)) + list(rng.permutation(rest))
    options = [variant.answer, *distractors[:3]]
    order = rng.permutation(4)
    shuffled = tuple(str(options[i]) for i in order)
    return Question(variant.question, shuffled, int(np.flatnonzero(order == 0)[0]), variant.answer_sentence)
