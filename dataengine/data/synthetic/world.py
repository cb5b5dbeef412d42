"""The synthetic world's vocabulary: colours, shapes, sizes, places, relations and drawn glyphs, the
texts of captions, questions and answers, and the scene graph. Every other module of the world
builds on these names, so a word means one thing in captions, questions and annotations."""

from dataclasses import dataclass

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
# Glyphs drawn as thick strokes in a unit box (Text Understanding): few, and unlike each other at 64x64.
GLYPH_STROKES: dict[str, tuple[tuple[tuple[float, float], ...], ...]] = {
    "H": (((0, 0), (0, 1)), ((1, 0), (1, 1)), ((0, 0.5), (1, 0.5))),
    "L": (((0, 0), (0, 1), (1, 1)),),
    "T": (((0, 0), (1, 0)), ((0.5, 0), (0.5, 1))),
    "V": (((0, 0), (0.5, 1), (1, 0)),),
    "X": (((0, 0), (1, 1)), ((1, 0), (0, 1))),
    "O": (),  # drawn as an ellipse outline
}
GLYPHS = tuple(GLYPH_STROKES)
# Worlds: the same vocabulary and types, drawn differently. `default` draws every detail a tiny
# student can resolve; in `small_text` the letters of Text Understanding are printed so small (about
# 2 pixels at 64x64) that their strokes cover their box, so no student at this resolution can read
# them however much data it gets: the case a sampling rule must notice and stop feeding.
WORLDS = ("default", "small_text")
# The letter's box side (a fraction of the image side) in each world: a range drawn uniformly.
TEXT_SIDE: dict[str, tuple[float, float]] = {"default": (0.6, 0.8), "small_text": (0.02, 0.03)}

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


def text_color(scene: Scene) -> str:
    """The colour the letter is drawn in: its own, else one that stands out from the background."""
    if scene.text_color is not None:
        return scene.text_color
    return "black" if scene.background in ("white", "yellow") else "white"
