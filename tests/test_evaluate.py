"""Scoring methods, metrics with Wilson bounds, bad cases."""

import polars as pl
import pytest

from dataengine.core.formats import LETTERS
from dataengine.eval.evaluate import bad_cases, extract_choice, metrics, score_items, wilson_interval
from tests.tiny import COLOUR_QUESTION, trained_colour_student

PREDICTION_COLUMNS = ["id", "qtype", "split", "answer", "prediction", "correct", "scores"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("colours")
    model, processor, items = trained_colour_student(root)
    return model, processor, items, root


def test_option_text_scoring_picks_the_trained_answer(trained):
    model, processor, items, root = trained
    predictions = score_items(model, processor, items, root, "option_text", batch_size=3)
    assert predictions.columns == PREDICTION_COLUMNS
    assert predictions["id"].to_list() == items["id"].to_list()
    assert predictions["correct"].all()
    assert predictions["prediction"].to_list() == items["answer"].to_list()
    assert all(len(s) == 4 and max(s) > -0.5 and sorted(s)[-2] < -2 for s in predictions["scores"])


def test_option_scores_do_not_depend_on_batching_or_padding(trained):
    """Left padding is masked: an item scores the same alone and in a batch
    with longer questions and options."""
    model, processor, items, root = trained
    longer = ("What colour is the blue picture?", COLOUR_QUESTION)
    mixed = items.with_columns(
        question=pl.Series([longer[i % 2] for i in range(items.height)]),
        options=pl.Series([["red", "green", "blue green", "yellow"]] * items.height),
    )
    for method in ("option_text", "letter"):
        alone = score_items(model, processor, mixed, root, method, batch_size=1)["scores"].to_list()
        together = score_items(model, processor, mixed, root, method, batch_size=8)["scores"].to_list()
        for a, b in zip(alone, together):
            assert a == pytest.approx(b, abs=1e-4)


def test_letter_and_generate_give_predictions_with_the_contract_columns(trained):
    model, processor, items, root = trained
    letter = score_items(model, processor, items, root, "letter", batch_size=4)
    assert letter.columns == PREDICTION_COLUMNS
    assert set(letter["prediction"]) <= set(LETTERS)
    assert all(len(s) == 4 and max(s) <= 0 for s in letter["scores"])  # log-probabilities
    generated = score_items(model, processor, items, root, "generate", batch_size=4)
    assert generated.columns == [*PREDICTION_COLUMNS, "extraction"]
    assert set(generated["extraction"]) <= {"letter", "option_text", "none"}
    # the colour-trained student replies with the colour: read back through the option text
    assert generated["correct"].all() and set(generated["extraction"]) == {"option_text"}
    assert metrics(generated, "generate")["extraction"] == {"option_text": items.height}


def test_score_items_checks_its_input(trained):
    model, processor, items, root = trained
    with pytest.raises(KeyError, match="split"):
        score_items(model, processor, items.drop("split"), root, "letter", 4)
    with pytest.raises(ValueError, match="b-00"):
        score_items(model, processor, items.with_columns(answer=pl.lit("E")), root, "letter", 4)
    with pytest.raises(ValueError, match="perplexity"):
        score_items(model, processor, items, root, "perplexity", 4)


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("B", ("B", "letter")),
        ("(c)", ("C", "letter")),
        ("D. yellow", ("D", "letter")),
        ("a red one", ("A", "option_text")),  # the article is not the letter A
        ("green", ("B", "option_text")),
        ("It is Blue.", ("C", "option_text")),
        ("red or green", (None, "none")),
        ("purple", (None, "none")),
    ],
)
def test_extract_choice(reply, expected):
    assert extract_choice(reply, ["red", "green", "blue", "yellow"]) == expected


def test_wilson_interval_against_hand_computed_values():
    # p = 3/4, z = 1.96: centre (0.75 + z²/8) / (1 + z²/4) = 0.6275, half-width 0.3269
    assert wilson_interval(3, 4) == pytest.approx((0.3006, 0.9544), abs=1e-4)
    assert wilson_interval(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert wilson_interval(10, 10) == pytest.approx((0.7225, 1.0), abs=1e-4)
    with pytest.raises(ValueError):
        wilson_interval(0, 0)


def predictions_table() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "id": ["d1", "d2", "d3", "d4", "t1", "t2", "t3"],
            "qtype": [3, 3, 3, 5, 3, 5, 5],
            "split": ["dev", "dev", "dev", "dev", "test", "test", "test"],
            "answer": ["A", "B", "C", "D", "A", "B", "C"],
            "prediction": ["A", "B", "D", "D", "B", "B", "C"],
            "correct": [True, True, False, True, False, True, True],
            "scores": [[0.0, -1.0]] * 7,
        }
    )


def test_metrics_per_split_and_type():
    result = metrics(predictions_table(), "option_text")
    assert result["scoring"] == "option_text" and set(result["splits"]) == {"dev", "test"}
    dev = result["splits"]["dev"]
    assert dev["overall"] == {
        "acc": 75.0,
        "n": 4,
        "ci_low": pytest.approx(30.06, abs=0.01),
        "ci_high": pytest.approx(95.44, abs=0.01),
    }
    assert list(dev["per_type"]) == ["3", "5"]
    assert dev["per_type"]["3"]["acc"] == pytest.approx(66.667) and dev["per_type"]["3"]["n"] == 3
    assert dev["per_type"]["5"] == {"acc": 100.0, "n": 1, "ci_low": pytest.approx(20.65, abs=0.01), "ci_high": 100.0}
    test = result["splits"]["test"]
    assert test["overall"]["acc"] == pytest.approx(66.667) and test["per_type"]["3"]["acc"] == 0.0
    assert "extraction" not in result


def test_bad_cases_are_the_wrong_dev_items():
    predictions = predictions_table()
    items = predictions.select("id", "qtype", "answer").with_columns(
        image=pl.format("images/{}.png", "id"), question=pl.lit("q?"), options=pl.lit(["w", "x", "y", "z"])
    )
    assert bad_cases(predictions, items) == [
        {
            "id": "d3",
            "qtype": 3,
            "image": "images/d3.png",
            "question": "q?",
            "options": ["w", "x", "y", "z"],
            "answer": "C",
            "prediction": "D",
        }
    ]
    with pytest.raises(KeyError, match="d3"):
        bad_cases(predictions, items.filter(pl.col("id") != "d3"))
