"""The built-in demo problems: deterministic, exactly answered, and train/eval disjoint."""

from __future__ import annotations

import pytest

from grpo_compare.demo.problems import SPLITS, demo_problems, split_of


def test_same_seed_gives_same_problems() -> None:
    assert demo_problems("eval", n=50, seed=3) == demo_problems("eval", n=50, seed=3)


def test_different_seed_gives_different_problems() -> None:
    first = [p.question for p in demo_problems("eval", n=50, seed=0)]
    second = [p.question for p in demo_problems("eval", n=50, seed=1)]
    assert first != second


@pytest.mark.parametrize("split", SPLITS)
def test_every_gold_is_the_evaluated_expression(split: str) -> None:
    for p in demo_problems(split, n=300):
        expected = eval(p.meta["expression"], {"__builtins__": {}})
        assert isinstance(expected, int)
        assert p.gold == str(expected), p
        assert p.gold.isdigit()  # plain non-negative integers, the format the rewards expect


def test_train_and_eval_never_share_a_question() -> None:
    train = {p.question for p in demo_problems("train", n=2000)}
    evals = {p.question for p in demo_problems("eval", n=300)}
    assert not train & evals
    assert all(split_of(q) == "train" for q in train)
    assert all(split_of(q) == "eval" for q in evals)


@pytest.mark.parametrize("split", SPLITS)
def test_ids_and_questions_are_unique(split: str) -> None:
    problems = demo_problems(split, n=500)
    assert len({p.id for p in problems}) == 500
    assert len({p.question for p in problems}) == 500


def test_a_prefix_of_a_larger_draw_is_the_smaller_draw() -> None:
    # The eval set of n=100 is stable when someone asks for more problems.
    assert demo_problems("eval", n=20) == demo_problems("eval", n=100)[:20]


def test_unknown_split_is_rejected() -> None:
    with pytest.raises(ValueError, match="split"):
        demo_problems("test")
