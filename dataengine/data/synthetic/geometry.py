"""Geometry of normalised boxes and the relations items ask about: where an object is, how two
objects stand to each other. A relation is only named where it is unambiguous to the eye."""

from dataengine.data.synthetic.world import (
    CENTER,
    MIN_GAP_APART,
    MIN_OVERLAP,
    Box,
    Scene,
    SceneObject,
)


def center(box: Box) -> tuple[float, float]:
    return (box[0] + box[2]) / 2, (box[1] + box[3]) / 2


def area(box: Box) -> float:
    return max(box[2] - box[0], 0.0) * max(box[3] - box[1], 0.0)


def intersection(a: Box, b: Box) -> float:
    return area((max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])))


def contains(outer: Box, inner: Box) -> bool:
    return outer[0] <= inner[0] and outer[1] <= inner[1] and inner[2] <= outer[2] and inner[3] <= outer[3]


def gap(a: Box, b: Box) -> float:
    """Shortest distance between two boxes (0 when they touch or overlap)."""
    dx = max(b[0] - a[2], a[0] - b[2], 0.0)
    dy = max(b[1] - a[3], a[1] - b[3], 0.0)
    return (dx * dx + dy * dy) ** 0.5


def location(box: Box) -> str:
    """Quadrant of the box centre, or "center" when the centre sits near the image centre."""
    cx, cy = center(box)
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
    (sx, sy), (ox, oy) = center(subject), center(other)
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
    if contains(other, subject):
        return "inside"
    if contains(subject, other):
        return "around"
    smaller = min(area(subject), area(other))
    if smaller > 0 and intersection(subject, other) / smaller >= MIN_OVERLAP:
        return "overlapping"
    if gap(subject, other) >= MIN_GAP_APART:
        return "apart"
    return None


def distinct_colors(scene: Scene) -> bool:
    return len({o.color for o in scene.objects}) == len(scene.objects)


def pairwise_disjoint(objects: tuple[SceneObject, ...]) -> bool:
    return all(intersection(a.box, b.box) == 0 for i, a in enumerate(objects) for b in objects[i + 1 :])
