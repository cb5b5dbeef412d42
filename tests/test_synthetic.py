import dataclasses
import re

import numpy as np
import pytest

from dataengine.core.qtypes import SEED_TYPES
from dataengine.data.synthetic import annotations, captions, geometry, questions, render, scenes, world

N_PER_TYPE = 150
TOKEN = re.compile(r"\w+|[^\w\s]")


def _items(qtype, n=N_PER_TYPE, seed=0):
    rng = np.random.default_rng([seed, qtype])
    for _ in range(n):
        scene = scenes.scene_for_type(qtype, rng)
        yield scene, questions.make_question(qtype, scene, rng)


def _pixels(scene):
    return np.asarray(render.render(scene))


def _mask(pixels, color):
    return np.all(pixels == world.COLORS[color], axis=-1)


def _bbox(mask):
    ys, xs = np.nonzero(mask)
    return xs.min(), ys.min(), xs.max(), ys.max()


def _colors_in(text):
    return [w for w in re.findall(r"\w+", text) if w in world.COLORS]


def _check_from_pixels(qtype, scene, question):
    """The correct option, judged from the rendered pixels where the type allows it."""
    pixels = _pixels(scene)
    answer = question.answer
    non_background = {c: int(_mask(pixels, c).sum()) for c in world.COLORS if c != scene.background}
    present = {c: n for c, n in non_background.items() if n}
    if qtype == 1:
        counts = {c: int(_mask(pixels, c).sum()) for c in world.COLORS}
        assert answer == world.SCENE_KINDS[max(counts, key=counts.get)]
    elif qtype == 2:
        assert answer == scene.objects[0].shape
    elif qtype == 3:
        assert answer == max(present, key=present.get)
    elif qtype == 4:
        x0, y0, x1, y1 = _bbox(_mask(pixels, scene.objects[0].color))
        vertical = "top" if y1 < 32 else "bottom" if y0 >= 32 else None
        horizontal = "left" if x1 < 32 else "right" if x0 >= 32 else None
        assert answer == f"{vertical} {horizontal}"
    elif qtype == 5:
        assert world.COUNT_WORDS.index(answer) + 1 == len(present)
    elif qtype == 6:
        subject, other = _colors_in(question.question)
        (sx, sy), (ox, oy) = (np.argwhere(_mask(pixels, c)).mean(axis=0)[::-1] for c in (subject, other))
        dx, dy = sx - ox, sy - oy
        expected = ("left" if dx < 0 else "right") if abs(dx) > abs(dy) else ("above" if dy < 0 else "below")
        assert answer == expected
    elif qtype == 7:
        subject, other = _colors_in(question.question)
        s, o = _bbox(_mask(pixels, subject)), _bbox(_mask(pixels, other))
        inside = lambda a, b: a[0] >= b[0] and a[1] >= b[1] and a[2] <= b[2] and a[3] <= b[3]  # noqa: E731
        touching = not (s[2] + 1 < o[0] or o[2] + 1 < s[0] or s[3] + 1 < o[1] or o[3] + 1 < s[1])
        expected = "inside" if inside(s, o) else "around" if inside(o, s) else "overlapping" if touching else "apart"
        assert answer == expected
    elif qtype == 8:
        assert answer == max(present, key=present.get)
    else:
        assert answer == scene.text and answer in world.GLYPHS


@pytest.mark.parametrize("qtype", sorted(SEED_TYPES))
def test_every_type_gives_valid_items_correct_for_the_rendered_scene(qtype):
    positions = set()
    for scene, question in _items(qtype):
        assert question is not None
        assert qtype in questions.supported_types(scene)
        assert len(question.options) == 4 and len(set(question.options)) == 4
        assert all(scene.background != o.color for o in scene.objects)
        positions.add(question.answer_index)
        _check_from_pixels(qtype, scene, question)
    assert positions == {0, 1, 2, 3}


def test_same_seed_same_items_and_pixels():
    first = [(s, q) for s, q in _items(6, n=30, seed=5)]
    second = [(s, q) for s, q in _items(6, n=30, seed=5)]
    assert first == second
    assert all(np.array_equal(_pixels(a), _pixels(b)) for (a, _), (b, _) in zip(first, second))
    assert first != [(s, q) for s, q in _items(6, n=30, seed=6)]


def test_scene_family_unsupported_types_give_none():
    rng = np.random.default_rng(0)
    text_scene = scenes.scene_for_type(9, rng)
    assert questions.make_question(2, text_scene, rng) is None
    assert questions.supported_types(text_scene) == [1, 9]
    with pytest.raises(ValueError, match="unknown question type 42"):
        questions.question_variants(42, text_scene)


def test_caption_names_background_count_objects_and_text():
    rng = np.random.default_rng(3)
    scene = scenes.scene_for_type(8, rng)
    text = captions.caption(scene)
    assert f"{scene.background} background" in text
    assert f"There are {world.COUNT_WORDS[len(scene.objects) - 1]} objects." in text
    for obj in scene.objects:
        assert f"The {obj.size} {obj.color} {obj.shape} is in the {geometry.location(obj.box)}." in text
    letter_scene = scenes.scene_for_type(9, rng)
    assert f"The letter {letter_scene.text} is written in" in captions.caption(letter_scene)


def test_corpus_covers_every_word_emitted():
    vocabulary = {t for text in captions.corpus() for t in TOKEN.findall(text)}
    emitted = set()
    for qtype in SEED_TYPES:
        for scene, question in _items(qtype, n=60):
            for text in (captions.caption(scene), question.question, question.answer_sentence, *question.options):
                emitted.update(TOKEN.findall(text))
    assert emitted - vocabulary == set()
    assert {"A", "B", "C", "D", "Answer", "Describe", "image", ".", "?"} <= vocabulary
    assert len(vocabulary) < 130


def test_annotation_round_trip_keeps_item_semantics():
    rng = np.random.default_rng(1)
    for qtype in SEED_TYPES:
        scene = scenes.scene_for_type(qtype, rng)
        record = annotations.scene_to_annotation(scene, "p000001", "images/p000001.png", "0" * 64)
        back = annotations.annotation_to_scene(record)
        assert back.objects == scene.objects and back.background == scene.background and back.text == scene.text
        assert record["qtypes"] == questions.supported_types(scene)
        for t in SEED_TYPES:
            assert questions.question_variants(t, back) == questions.question_variants(t, scene)


def test_annotation_to_scene_names_image_and_key():
    record = annotations.scene_to_annotation(
        scenes.scene_for_type(3, np.random.default_rng(0)), "p7", "images/p7.png", "0"
    )
    record["objects"][0]["color"] = "teal"
    with pytest.raises(ValueError, match=r"annotation p7: objects\[0\]\.color='teal'"):
        annotations.annotation_to_scene(record)


def test_draw_unseen_scene_skips_seen_images():
    first_scene, _, first_sha = render.draw_unseen_scene(4, np.random.default_rng(9), set())
    seen = {first_sha}
    scene, png, sha = render.draw_unseen_scene(4, np.random.default_rng(9), seen)
    assert scene != first_scene and sha != first_sha and seen == {first_sha, sha}
    assert png == render.render_png(scene)


def test_small_text_world_prints_letters_no_pixel_can_tell_apart():
    """In `small_text` the letter is a blot of its colour: every letter gives the same image, so
    Text Understanding cannot be learned; in the default world every letter looks different."""
    rng = np.random.default_rng(4)
    for _ in range(40):
        scene = scenes.scene_for_type(9, rng, "small_text")
        images = {_pixels(dataclasses.replace(scene, text=letter)).tobytes() for letter in world.GLYPHS}
        assert len(images) == 1
        assert _mask(_pixels(scene), world.text_color(scene)).sum() >= 1  # the blot is drawn
    default = scenes.scene_for_type(9, np.random.default_rng(4))
    assert len({_pixels(dataclasses.replace(default, text=letter)).tobytes() for letter in world.GLYPHS}) == 6


def test_worlds_differ_only_in_the_letters_size():
    for qtype in SEED_TYPES:
        rngs = np.random.default_rng([1, qtype]), np.random.default_rng([1, qtype])
        first, second = (scenes.scene_for_type(qtype, rng, name) for rng, name in zip(rngs, world.WORLDS))
        if qtype == 9:
            side = first.text_box[2] - first.text_box[0], second.text_box[2] - second.text_box[0]
            assert side[0] >= 0.6 and side[1] <= 0.03
            assert dataclasses.replace(first, text_box=None) == dataclasses.replace(second, text_box=None)
        else:
            assert first == second
    with pytest.raises(ValueError, match="unknown synthetic world 'tiny'; known: \\['default', 'small_text'\\]"):
        scenes.scene_for_type(9, np.random.default_rng(0), "tiny")
