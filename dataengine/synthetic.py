"""The synthetic world: scene graphs, their rendering, dense captions and the multiple-choice items of
every question type.

Item semantics live here only (`question_variants`), so the benchmark and the oracle teacher ask the
same questions and the validator can check a teacher's answer against the scene. Each type is designed
for what a tiny student with a 4x4 grid of image tokens can learn once it has seen enough data (as
measured on these machines): big, flat-coloured objects, few very distinct shapes and glyphs,
single-object scenes where an attribute of "the" object is asked, and layouts aligned to the quadrants.
"""

import hashlib
import io
import string
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from dataengine.qtypes import QTYPES

Box = tuple[float, float, float, float]

COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 165, 45),
    "blue": (35, 70, 225),
    "yellow": (245, 225, 35),
    "purple": (140, 45, 175),
    "orange": (250, 140, 20),
    "white": (245, 245, 245),
    "black": (15, 15, 15),
    "gray": (128, 128, 128),
}
# Scene Understanding asks for the kind of scene; each kind is one background colour, so it is learnable.
SCENE_KINDS: dict[str, str] = {
    "red": "volcano",
    "green": "forest",
    "blue": "sea",
    "yellow": "beach",
    "purple": "dusk",
    "orange": "desert",
    "white": "snow",
    "black": "night",
    "gray": "city",
}
SHAPES = ("circle", "square", "triangle", "cross")
# Box side as a fraction of the image side. "large" fits in half the image, so layouts stay simple.
SIZES: dict[str, float] = {"small": 0.2, "medium": 0.3, "large": 0.46}
QUADRANTS = ("top left", "top right", "bottom left", "bottom right")
CENTER = "center"
COUNT_WORDS = ("one", "two", "three", "four")
SPATIAL = ("left", "right", "above", "below")
SPATIAL_PHRASE = {"left": "left of", "right": "right of", "above": "above", "below": "below"}
INTERACTIONS = ("inside", "around", "overlapping", "apart")
INTERACTION_PHRASE = {"inside": "inside", "around": "around", "overlapping": "overlapping", "apart": "apart from"}
# Glyphs drawn as thick strokes in a unit box: few, and unlike each other at 64x64.
LETTER_STROKES: dict[str, tuple[tuple[tuple[float, float], ...], ...]] = {
    "H": (((0, 0), (0, 1)), ((1, 0), (1, 1)), ((0, 0.5), (1, 0.5))),
    "L": (((0, 0), (0, 1), (1, 1)),),
    "T": (((0, 0), (1, 0)), ((0.5, 0), (0.5, 1))),
    "V": (((0, 0), (0.5, 1), (1, 0)),),
    "X": (((0, 0), (1, 1)), ((1, 0), (0, 1))),
    "O": (),  # drawn as an ellipse outline
}
LETTERS = tuple(LETTER_STROKES)

# Item thresholds: a relation is only asked where it is unambiguous to the eye.
MIN_GAP_APART = 0.1  # boxes at least this far apart (image fraction) count as "apart"
MIN_OVERLAP = 0.2  # intersection over the smaller box for "overlapping"
MIN_LARGEST_RATIO = 1.5  # the largest object's area over the second's
QUADRANT_MARGIN = 0.04  # distance kept from the image's mid-lines when placing in a quadrant

CAPTION_SCENE = "The scene is {kind} with {background} background."
CAPTION_COUNT_NONE = "There are no objects."
CAPTION_COUNT_ONE = "There is one object."
CAPTION_COUNT_MANY = "There are {count} objects."
CAPTION_OBJECT = "The {size} {color} {shape} is in the {location}."
CAPTION_PAIR = "The {subject} is {relation} the {other}."
CAPTION_TEXT = "The letter {letter} is written in {color}."

Q_SCENE = "What kind of scene is this?"
A_SCENE = "The scene is {answer}."
Q_IDENTITY = "What shape is the {color} object?"
A_IDENTITY = "The shape of the {color} object is {answer}."
Q_ATTRIBUTE = "What color is the {shape}?"
A_ATTRIBUTE = "The {shape} is {answer}."
Q_LOCATION = "Where is the {name}?"
A_LOCATION = "The {name} is in the {answer}."
Q_COUNT = "How many objects are there?"
A_COUNT = "There are {answer} objects."
Q_SPATIAL = "Where is the {subject} relative to the {other}?"
Q_INTERACTION = "How does the {subject} interact with the {other}?"
Q_LARGEST = "What color is the largest object?"
A_LARGEST = "The largest object is {answer}."
Q_TEXT = "What letter is shown in the image?"
A_TEXT = "The letter is {answer}."

TEMPLATES = (
    CAPTION_SCENE,
    CAPTION_COUNT_NONE,
    CAPTION_COUNT_ONE,
    CAPTION_COUNT_MANY,
    CAPTION_OBJECT,
    CAPTION_PAIR,
    CAPTION_TEXT,
    Q_SCENE,
    A_SCENE,
    Q_IDENTITY,
    A_IDENTITY,
    Q_ATTRIBUTE,
    A_ATTRIBUTE,
    Q_LOCATION,
    A_LOCATION,
    Q_COUNT,
    A_COUNT,
    Q_SPATIAL,
    Q_INTERACTION,
    Q_LARGEST,
    A_LARGEST,
    Q_TEXT,
    A_TEXT,
)
# Words the student's prompts add around the items (option letters, the caption instruction).
PROMPT_TEXTS = ("A", "B", "C", "D", "Answer:", "Describe the image.", ". , ? : ( )")


@dataclass(frozen=True)
class SceneObject:
    shape: str
    color: str
    size: str
    box: Box  # normalised (x0, y0, x1, y1), y downwards

    @property
    def name(self) -> str:
        return f"{self.color} {self.shape}"


@dataclass(frozen=True)
class Scene:
    """A scene graph. `text_color` / `text_box` only steer rendering; items depend on `text` alone."""

    background: str
    objects: tuple[SceneObject, ...] = ()
    text: str | None = None
    text_color: str | None = None
    text_box: Box | None = None


@dataclass(frozen=True)
class Question:
    question: str
    options: tuple[str, str, str, str]
    answer_index: int
    answer_sentence: str

    @property
    def answer(self) -> str:
        return self.options[self.answer_index]


@dataclass(frozen=True)
class Variant:
    """One askable question about a scene: its correct option and the family distractors come from."""

    question: str
    answer: str
    answer_sentence: str
    family: tuple[str, ...]
    hard_distractors: tuple[str, ...] = ()


# ---------------------------------------------------------------- geometry


def _center(box: Box) -> tuple[float, float]:
    return (box[0] + box[2]) / 2, (box[1] + box[3]) / 2


def _area(box: Box) -> float:
    return max(box[2] - box[0], 0.0) * max(box[3] - box[1], 0.0)


def _intersection(a: Box, b: Box) -> float:
    return _area((max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])))


def _contains(outer: Box, inner: Box) -> bool:
    return outer[0] <= inner[0] and outer[1] <= inner[1] and inner[2] <= outer[2] and inner[3] <= outer[3]


def _gap(a: Box, b: Box) -> float:
    """Shortest distance between two boxes (0 when they touch or overlap)."""
    dx = max(b[0] - a[2], a[0] - b[2], 0.0)
    dy = max(b[1] - a[3], a[1] - b[3], 0.0)
    return (dx * dx + dy * dy) ** 0.5


def location(box: Box) -> str:
    """Quadrant of the box centre, or "center" when the centre sits near the image centre."""
    cx, cy = _center(box)
    if abs(cx - 0.5) < 0.1 and abs(cy - 0.5) < 0.1:
        return CENTER
    return f"{'top' if cy < 0.5 else 'bottom'} {'left' if cx < 0.5 else 'right'}"


def quadrant_of(box: Box) -> str | None:
    """The quadrant that wholly holds the box, else None (a location question would be ambiguous)."""
    horizontal = "left" if box[2] <= 0.5 else "right" if box[0] >= 0.5 else None
    vertical = "top" if box[3] <= 0.5 else "bottom" if box[1] >= 0.5 else None
    return f"{vertical} {horizontal}" if horizontal and vertical else None


def spatial_relation(subject: Box, other: Box) -> str | None:
    """Where subject lies relative to other, when separated along one clearly dominant axis."""
    (sx, sy), (ox, oy) = _center(subject), _center(other)
    dx, dy = sx - ox, sy - oy
    if abs(dx) >= 2 * abs(dy):
        if subject[2] <= other[0]:
            return "left"
        if subject[0] >= other[2]:
            return "right"
    if abs(dy) >= 2 * abs(dx):
        if subject[3] <= other[1]:
            return "above"
        if subject[1] >= other[3]:
            return "below"
    return None


def interaction(subject: Box, other: Box) -> str | None:
    """How two boxes meet: inside, around, overlapping, apart; None for touching or grazing boxes."""
    if _contains(other, subject):
        return "inside"
    if _contains(subject, other):
        return "around"
    smaller = min(_area(subject), _area(other))
    if smaller > 0 and _intersection(subject, other) / smaller >= MIN_OVERLAP:
        return "overlapping"
    if _gap(subject, other) >= MIN_GAP_APART:
        return "apart"
    return None


def _distinct_colors(scene: Scene) -> bool:
    return len({o.color for o in scene.objects}) == len(scene.objects)


def _pairwise_disjoint(objects: tuple[SceneObject, ...]) -> bool:
    return all(_intersection(a.box, b.box) == 0 for i, a in enumerate(objects) for b in objects[i + 1 :])


# ---------------------------------------------------------------- items


def _pair_variants(scene: Scene, relate, phrases: dict, question: str, family) -> list[Variant]:
    """Questions about how one of two objects stands to the other (spatial relation, interaction):
    asked both ways round, wherever `relate` gives an unambiguous answer."""
    if len(scene.objects) != 2 or not _distinct_colors(scene):
        return []
    variants = []
    for subject, other in (scene.objects, scene.objects[::-1]):
        answer = relate(subject.box, other.box)
        if answer is not None:
            sentence = CAPTION_PAIR.format(subject=subject.name, relation=phrases[answer], other=other.name)
            variants.append(Variant(question.format(subject=subject.name, other=other.name), answer, sentence, family))
    return variants


def _spatial_variants(scene: Scene) -> list[Variant]:
    return _pair_variants(scene, spatial_relation, SPATIAL_PHRASE, Q_SPATIAL, SPATIAL)


def _interaction_variants(scene: Scene) -> list[Variant]:
    return _pair_variants(scene, interaction, INTERACTION_PHRASE, Q_INTERACTION, INTERACTIONS)


def _largest_variants(scene: Scene) -> list[Variant]:
    if not 2 <= len(scene.objects) <= 3 or not _distinct_colors(scene) or not _pairwise_disjoint(scene.objects):
        return []
    by_area = sorted(scene.objects, key=lambda o: _area(o.box), reverse=True)
    if _area(by_area[0].box) < MIN_LARGEST_RATIO * _area(by_area[1].box):
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
    if qtype not in QTYPES:
        raise ValueError(f"unknown question type {qtype!r}; known ids: {sorted(QTYPES)}")
    if qtype == 1:
        kind = SCENE_KINDS[scene.background]
        return [Variant(Q_SCENE, kind, A_SCENE.format(answer=kind), tuple(SCENE_KINDS.values()))]
    if qtype in (2, 3, 4):
        return _single_object_variants(qtype, scene)
    if qtype == 5:
        n = len(scene.objects)
        if not 1 <= n <= len(COUNT_WORDS) or not _pairwise_disjoint(scene.objects):
            return []
        word = COUNT_WORDS[n - 1]
        sentence = CAPTION_COUNT_ONE if n == 1 else A_COUNT.format(answer=word)
        return [Variant(Q_COUNT, word, sentence, COUNT_WORDS)]
    if qtype == 6:
        return _spatial_variants(scene)
    if qtype == 7:
        return _interaction_variants(scene)
    if qtype == 8:
        return _largest_variants(scene)
    if scene.text is None:
        return []
    return [Variant(Q_TEXT, scene.text, A_TEXT.format(answer=scene.text), LETTERS)]


def supported_types(scene: Scene) -> list[int]:
    return [qtype for qtype in QTYPES if question_variants(qtype, scene)]


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


# ---------------------------------------------------------------- captions


def caption(scene: Scene) -> str:
    """Dense caption naming everything an item can ask about; the student's alignment stage learns
    the image from these, which is what makes objects learnable at all."""
    sentences = [CAPTION_SCENE.format(kind=SCENE_KINDS[scene.background], background=scene.background)]
    n = len(scene.objects)
    if n == 0:
        sentences.append(CAPTION_COUNT_NONE)
    elif n == 1:
        sentences.append(CAPTION_COUNT_ONE)
    else:
        sentences.append(CAPTION_COUNT_MANY.format(count=_count_word(n)))
    for obj in scene.objects:
        sentences.append(
            CAPTION_OBJECT.format(size=obj.size, color=obj.color, shape=obj.shape, location=location(obj.box))
        )
    sentences += [v.answer_sentence for v in _spatial_variants(scene)[:1] + _interaction_variants(scene)[:1]]
    if scene.text is not None:
        sentences.append(CAPTION_TEXT.format(letter=scene.text, color=_text_color(scene)))
    return " ".join(sentences)


def _count_word(n: int) -> str:
    if n > len(COUNT_WORDS):
        raise ValueError(f"scenes hold at most {len(COUNT_WORDS)} objects, got {n}")
    return COUNT_WORDS[n - 1]


def corpus() -> list[str]:
    """Texts holding every word a caption, question, option or answer can emit (tokenizer training)."""
    literals = ["".join(literal for literal, *_ in string.Formatter().parse(template)) for template in TEMPLATES]
    fillers = [
        *COLORS,
        *SCENE_KINDS.values(),
        *SHAPES,
        *SIZES,
        *QUADRANTS,
        CENTER,
        *COUNT_WORDS,
        *SPATIAL,
        *SPATIAL_PHRASE.values(),
        *INTERACTIONS,
        *INTERACTION_PHRASE.values(),
        *LETTERS,
    ]
    return [*literals, " ".join(fillers), *PROMPT_TEXTS]


# ---------------------------------------------------------------- scene families


def _rounded(box) -> Box:
    return tuple(round(float(v), 3) for v in box)


def _box_in(rng: np.random.Generator, side: float, region: Box) -> Box:
    """A square box of this side placed uniformly inside region."""
    x0 = rng.uniform(region[0], region[2] - side)
    y0 = rng.uniform(region[1], region[3] - side)
    return _rounded((x0, y0, x0 + side, y0 + side))


def _quadrant_region(quadrant: str) -> Box:
    lo, hi = (0.02, 0.5 - QUADRANT_MARGIN), (0.5 + QUADRANT_MARGIN, 0.98)
    ys = lo if quadrant.startswith("top") else hi
    xs = lo if quadrant.endswith("left") else hi
    return (xs[0], ys[0], xs[1], ys[1])


def _pick(rng: np.random.Generator, values, k: int | None = None):
    """k distinct values (or one value) from a sequence, as plain Python objects."""
    values = list(values)
    if k is None:
        return values[rng.integers(len(values))]
    return [values[i] for i in rng.choice(len(values), size=k, replace=False)]


def _objects_in_quadrants(rng, colors, sizes, quadrants, shapes=SHAPES) -> tuple[SceneObject, ...]:
    return tuple(
        SceneObject(_pick(rng, shapes), color, size, _box_in(rng, SIZES[size], _quadrant_region(quadrant)))
        for color, size, quadrant in zip(colors, sizes, quadrants, strict=True)
    )


def _object_colors(rng: np.random.Generator, background: str, k: int) -> list[str]:
    return _pick(rng, [c for c in COLORS if c != background], k)


def _scene_with_counted_objects(rng, low: int, high: int, sizes=("small", "medium")) -> Scene:
    background = _pick(rng, COLORS)
    n = int(rng.integers(low, high + 1))
    objects = _objects_in_quadrants(
        rng, _object_colors(rng, background, n), [_pick(rng, sizes) for _ in range(n)], _pick(rng, QUADRANTS, n)
    )
    return Scene(background, objects)


def _single_object_scene(rng, sizes, region_of) -> Scene:
    background = _pick(rng, COLORS)
    size = _pick(rng, sizes)
    obj = SceneObject(
        _pick(rng, SHAPES), _object_colors(rng, background, 1)[0], size, _box_in(rng, SIZES[size], region_of(rng))
    )
    return Scene(background, (obj,))


def _centered(_rng) -> Box:
    """Room for a large object near the centre. A shape placed anywhere falls across the 16-pixel
    patches in too many ways for the tiny student: measured, shape questions stayed at chance after
    300 samples a round; centred, they rose from 30 to 52 % on 440."""
    return (0.24, 0.24, 0.76, 0.76)


def _whole_image(_rng) -> Box:
    return (0.03, 0.03, 0.97, 0.97)


def _random_quadrant(rng) -> Box:
    return _quadrant_region(_pick(rng, QUADRANTS))


def _spatial_scene(rng) -> Scene:
    """Two objects in the two quadrants of one row (or column), lined up across it, so that exactly
    one relation holds and each object keeps a single quadrant."""
    background = _pick(rng, COLORS)
    colors = _object_colors(rng, background, 2)
    sizes = [_pick(rng, ("small", "medium")) for _ in range(2)]
    low, high = (0.02, 0.5 - QUADRANT_MARGIN), (0.5 + QUADRANT_MARGIN, 0.98)
    band = low if rng.random() < 0.5 else high
    widest = max(SIZES[s] for s in sizes) / 2
    cross = rng.uniform(band[0] + widest, band[1] - widest)
    boxes = []
    for size, half in zip(sizes, (low, high)):
        side = SIZES[size]
        along = rng.uniform(half[0], half[1] - side)
        across = cross - side / 2 + rng.uniform(-0.02, 0.02)
        boxes.append((along, across, along + side, across + side))
    if rng.random() < 0.5:  # a column instead of a row: swap the axes
        boxes = [(b[1], b[0], b[3], b[2]) for b in boxes]
    objects = tuple(SceneObject(_pick(rng, SHAPES), c, s, _rounded(b)) for c, s, b in zip(colors, sizes, boxes))
    return Scene(background, objects if rng.random() < 0.5 else objects[::-1])


def _interaction_scene(rng) -> Scene:
    """Two objects in one of the four interactions, each drawn so it is obvious at 64x64."""
    background = _pick(rng, COLORS)
    colors = _object_colors(rng, background, 2)
    kind = _pick(rng, INTERACTIONS)
    if kind in ("inside", "around"):
        outer_box = _box_in(rng, SIZES["large"], _whole_image(rng))
        cx, cy = _center(outer_box)
        half = SIZES["small"] / 2
        jitter = rng.uniform(-0.02, 0.02, size=2)
        inner_box = _rounded(
            (cx - half + jitter[0], cy - half + jitter[1], cx + half + jitter[0], cy + half + jitter[1])
        )
        outer = SceneObject(_pick(rng, ("circle", "square")), colors[0], "large", outer_box)
        inner = SceneObject(_pick(rng, SHAPES), colors[1], "small", inner_box)
        objects = (outer, inner)  # drawn in order: the inner object on top
    elif kind == "overlapping":
        side = SIZES["medium"]
        first = _box_in(rng, side, (0.05, 0.05, 0.95 - side / 2, 0.95 - side / 2))
        dx, dy = rng.uniform(0.1, side / 2), rng.uniform(0.0, side / 2)
        second = _rounded((first[0] + dx, first[1] + dy, first[2] + dx, first[3] + dy))
        solid = ("circle", "square")  # shapes that fill their box, so the boxes' overlap is visible
        objects = tuple(SceneObject(_pick(rng, solid), c, "medium", b) for c, b in zip(colors, (first, second)))
    else:
        diagonal = _pick(rng, (("top left", "bottom right"), ("top right", "bottom left")))
        objects = _objects_in_quadrants(rng, colors, [_pick(rng, ("small", "medium")) for _ in range(2)], diagonal)
    return Scene(background, objects)


def _largest_scene(rng) -> Scene:
    """2-3 objects of different sizes: the large one in one half, the others in the other half's quadrants."""
    background = _pick(rng, COLORS)
    n = int(rng.integers(2, 4))
    sizes = ["large", *_pick(rng, ("small", "medium"), n - 1)]
    half = _pick(rng, ("top", "bottom", "left", "right"))
    opposite = {"top": "bottom", "bottom": "top", "left": "right", "right": "left"}[half]
    half_region = {
        "top": (0.02, 0.02, 0.98, 0.5),
        "bottom": (0.02, 0.5, 0.98, 0.98),
        "left": (0.02, 0.02, 0.5, 0.98),
        "right": (0.5, 0.02, 0.98, 0.98),
    }[half]
    others = [q for q in QUADRANTS if opposite in q]
    colors = _object_colors(rng, background, n)
    large = SceneObject(_pick(rng, SHAPES), colors[0], "large", _box_in(rng, SIZES["large"], half_region))
    small = _objects_in_quadrants(rng, colors[1:], sizes[1:], _pick(rng, others, n - 1))
    objects = [large, *small]
    return Scene(background, tuple(objects[i] for i in rng.permutation(n)))


def _text_scene(rng) -> Scene:
    background = _pick(rng, COLORS)
    side = rng.uniform(0.6, 0.8)
    return Scene(
        background,
        (),
        _pick(rng, LETTERS),
        _object_colors(rng, background, 1)[0],
        _box_in(rng, side, (0.05, 0.05, 0.95, 0.95)),
    )


def scene_for_type(qtype: int, rng: np.random.Generator) -> Scene:
    """A random scene built so that it supports this type (the type's scene family)."""
    if qtype == 1:
        return _scene_with_counted_objects(rng, 1, 3, sizes=("small",))
    if qtype == 2:
        return _single_object_scene(rng, ("large",), _centered)
    if qtype == 3:
        return _single_object_scene(rng, ("medium", "large"), _whole_image)
    if qtype == 4:
        return _single_object_scene(rng, ("small", "medium"), _random_quadrant)
    if qtype == 5:
        return _scene_with_counted_objects(rng, 1, 4)
    if qtype == 6:
        return _spatial_scene(rng)
    if qtype == 7:
        return _interaction_scene(rng)
    if qtype == 8:
        return _largest_scene(rng)
    if qtype == 9:
        return _text_scene(rng)
    raise ValueError(f"unknown question type {qtype!r}; known ids: {sorted(QTYPES)}")


# ---------------------------------------------------------------- rendering


def _text_color(scene: Scene) -> str:
    if scene.text_color is not None:
        return scene.text_color
    return "black" if scene.background in ("white", "yellow") else "white"


def _draw_shape(draw: ImageDraw.ImageDraw, obj: SceneObject, size: int) -> None:
    x0, y0, x1, y1 = (v * size for v in obj.box)
    fill = COLORS[obj.color]
    if obj.shape == "circle":
        draw.ellipse((x0, y0, x1 - 1, y1 - 1), fill=fill)
    elif obj.shape == "square":
        draw.rectangle((x0, y0, x1 - 1, y1 - 1), fill=fill)
    elif obj.shape == "triangle":
        draw.polygon([(x0, y1 - 1), (x1 - 1, y1 - 1), ((x0 + x1) / 2, y0)], fill=fill)
    elif obj.shape == "cross":
        third_w, third_h = (x1 - x0) / 3, (y1 - y0) / 3
        draw.rectangle((x0 + third_w, y0, x1 - third_w - 1, y1 - 1), fill=fill)
        draw.rectangle((x0, y0 + third_h, x1 - 1, y1 - third_h - 1), fill=fill)
    else:
        raise ValueError(f"cannot draw shape {obj.shape!r}; known shapes: {SHAPES}")


def _draw_letter(draw: ImageDraw.ImageDraw, scene: Scene, size: int) -> None:
    if scene.text not in LETTER_STROKES:
        raise ValueError(f"cannot draw text {scene.text!r}; known letters: {LETTERS}")
    box = scene.text_box or (0.15, 0.15, 0.85, 0.85)
    x0, y0, x1, y1 = (v * size for v in box)
    width = max(2, round((x1 - x0) * 0.16))
    # Keep strokes inside the box: end points are inset by half the line width.
    inset = width / 2
    ix0, iy0, ix1, iy1 = x0 + inset, y0 + inset, x1 - inset, y1 - inset
    fill = COLORS[_text_color(scene)]
    if scene.text == "O":
        draw.ellipse((ix0, iy0, ix1, iy1), outline=fill, width=width)
    for stroke in LETTER_STROKES[scene.text]:
        points = [(ix0 + u * (ix1 - ix0), iy0 + v * (iy1 - iy0)) for u, v in stroke]
        draw.line(points, fill=fill, width=width, joint="curve")


def render(scene: Scene, image_size: int = 64) -> Image.Image:
    """RGB image of the scene; objects drawn in order (later on top), then the letter."""
    image = Image.new("RGB", (image_size, image_size), COLORS[scene.background])
    draw = ImageDraw.Draw(image)
    for obj in scene.objects:
        _draw_shape(draw, obj, image_size)
    if scene.text is not None:
        _draw_letter(draw, scene, image_size)
    return image


def render_png(scene: Scene, image_size: int = 64) -> bytes:
    """PNG bytes of the scene; Pillow writes no timestamp, so the same scene gives the same bytes."""
    buffer = io.BytesIO()
    render(scene, image_size).save(buffer, format="PNG")
    return buffer.getvalue()


MAX_REDRAWS = 1000  # a family that keeps repeating images is a bug, not bad luck


def draw_unseen_scene(
    qtype: int, rng: np.random.Generator, seen_sha256: set[str], image_size: int = 64
) -> tuple[Scene, bytes, str]:
    """A scene of the type's family whose image hash is not in seen_sha256 (which it joins): keeps
    the benchmark's splits and the pool free of repeated images; returns (scene, png, sha256)."""
    for _ in range(MAX_REDRAWS):
        scene = scene_for_type(qtype, rng)
        png = render_png(scene, image_size)
        sha = hashlib.sha256(png).hexdigest()
        if sha not in seen_sha256:
            seen_sha256.add(sha)
            return scene, png, sha
    raise RuntimeError(f"type {qtype}: {MAX_REDRAWS} draws in a row repeated an excluded or earlier image")


# ---------------------------------------------------------------- pool annotations


def scene_to_annotation(scene: Scene, image_id: str, image: str, sha256: str) -> dict:
    """The pool record of docs/contracts.md for a rendered scene (`image` relative to pool/)."""
    return {
        "image_id": image_id,
        "image": image,
        "sha256": sha256,
        "captions": [caption(scene)],
        "objects": [{"category": o.shape, "color": o.color, "size": o.size, "box": list(o.box)} for o in scene.objects],
        "background": scene.background,
        "text": scene.text,
        "qtypes": supported_types(scene),
    }


def annotation_to_scene(record: dict) -> Scene:
    """The scene graph of a synthetic pool record; a clear error naming the image and key otherwise."""
    image_id = record.get("image_id", "<no image_id>")

    def need(mapping: dict, key: str, allowed, where: str):
        value = mapping.get(key)
        if value not in allowed:
            raise ValueError(f"annotation {image_id}: {where}{key}={value!r} is not one of {sorted(allowed)}")
        return value

    background = need(record, "background", COLORS, "")
    objects = []
    for i, obj in enumerate(record.get("objects") or []):
        where = f"objects[{i}]."
        box = obj.get("box")
        if not (isinstance(box, list | tuple) and len(box) == 4 and all(isinstance(v, int | float) for v in box)):
            raise ValueError(f"annotation {image_id}: {where}box={box!r} is not 4 numbers")
        objects.append(
            SceneObject(
                need(obj, "category", SHAPES, where),
                need(obj, "color", COLORS, where),
                need(obj, "size", SIZES, where),
                tuple(float(v) for v in box),
            )
        )
    text = record.get("text")
    if text is not None:
        need(record, "text", LETTERS, "")
    return Scene(background, tuple(objects), text)


def is_synthetic_annotation(record: dict) -> bool:
    """Whether a pool record describes a scene of this world (real pools have no background colour)."""
    return record.get("background") in COLORS
