"""The synthetic world of the offline default: scene graphs, their rendering, dense captions and the
multiple-choice items of every question type.

Each type is designed for what a tiny student with a 4x4 grid of image tokens can learn once it has
seen enough data (as measured on these machines): big, flat-coloured objects, few very distinct shapes
and glyphs, single-object scenes where an attribute of "the" object is asked, and layouts aligned to
the quadrants. The modules, from the ground up: `world` (vocabulary, texts, the scene graph),
`geometry` (boxes and relations), `questions` (items), `captions`, `scenes` (a family of scenes per
type), `render`, `annotations` (pool records and back).
"""
