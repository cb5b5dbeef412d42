import json

import numpy as np
import pytest

from dataengine.data.synthetic.annotations import annotation_to_scene
from dataengine.data.synthetic.questions import question_variants
from dataengine.teacher import generate
from dataengine.teacher.oracle import SKIP_REPLY, oracle_reply, query_rng
from tests.conftest import make_queries


def test_oracle_reply_is_a_correct_item_for_the_annotation():
    for query in make_queries(n_per_type=5):
        reply = json.loads(oracle_reply(query, query_rng(0, query["query_id"])))
        assert set(reply) == {"instruction", "answer", "short_answer", "options", "choice_answer"}
        assert reply["options"]["ABCD".index(reply["choice_answer"])] == reply["short_answer"]
        variants = question_variants(query["qtype"], annotation_to_scene(query["annotation"]))
        assert any(v.question == reply["instruction"] and v.answer == reply["short_answer"] for v in variants)


def test_oracle_skips_a_type_the_image_cannot_carry():
    query = make_queries(n_per_type=1)[8]  # a letter scene
    assert oracle_reply({**query, "qtype": 6}, np.random.default_rng(0)) == SKIP_REPLY


def test_generate_is_deterministic_per_seed_and_query_whatever_the_order():
    queries = make_queries(n_per_type=3)
    first = generate(queries, {"kind": "oracle"}, seed=1)
    assert [r["query_id"] for r in first] == [q["query_id"] for q in queries]
    assert {r["teacher"] for r in first} == {"oracle"}
    reordered = generate(queries[::-1], {"kind": "oracle"}, seed=1)
    assert {r["query_id"]: r["content"] for r in reordered} == {r["query_id"]: r["content"] for r in first}
    assert generate(queries, {"kind": "oracle"}, seed=2) != first


def test_generate_rejects_unknown_kind_and_incomplete_queries():
    with pytest.raises(ValueError, match="unknown teacher kind 'gpt9'.*oracle"):
        generate([], {"kind": "gpt9"}, seed=0)
    with pytest.raises(ValueError, match=r"query 0 \(q1\): missing keys \['annotation'\]"):
        generate([{"query_id": "q1", "qtype": 3}], {"kind": "oracle"}, seed=0)
