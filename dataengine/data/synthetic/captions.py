"""Dense captions of scenes, the alignment stage's data (what makes objects learnable at all for a
student trained from random weights), and the corpus the tiny student's tokenizer is trained on."""

import string

from dataengine.data.synthetic.geometry import location
from dataengine.data.synthetic.questions import interaction_variants, spatial_variants
from dataengine.data.synthetic.world import (
    CAPTION_COUNT_MANY,
    CAPTION_COUNT_NONE,
    CAPTION_COUNT_ONE,
    CAPTION_OBJECT,
    CAPTION_SCENE,
    CAPTION_TEXT,
    CENTER,
    COLORS,
    COUNT_WORDS,
    GLYPHS,
    INTERACTION_PHRASE,
    INTERACTIONS,
    PROMPT_TEXTS,
    QUADRANTS,
    SCENE_KINDS,
    SHAPES,
    SIZES,
    SPATIAL,
    SPATIAL_PHRASE,
    TEMPLATES,
    Scene,
    text_color,
)


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
    sentences += [v.answer_sentence for v in spatial_variants(scene)[:1] + interaction_variants(scene)[:1]]
    if scene.text is not None:
        sentences.append(CAPTION_TEXT.format(letter=scene.text, color=text_color(scene)))
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
        *GLYPHS,
    ]
    return [*literals, " ".join(fillers), *PROMPT_TEXTS]
