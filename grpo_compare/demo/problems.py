"""Built-in arithmetic word problems: the demo's own data, generated, never downloaded.

Every problem is built from a small integer expression (kept in `meta["expression"]`), so its
answer is exact and can be checked with `eval`. The problems are one- or two-step grade-school
questions with small numbers: the demo model (SmolLM2-135M) is weak, and a useful demo needs a
base accuracy that a LoRA can visibly move.

Train and eval never overlap: a question belongs to exactly one split, decided by a hash of its
text (`split_of`), and each split's generator keeps only the questions of its own split.

    python -m grpo_compare.demo.problems          # print a few eval problems
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from typing import Callable

from ..types import Problem

SPLITS = ("train", "eval")
EVAL_PERCENT = 20  # share of the question space that belongs to the eval split

NAMES = ("Tom", "Sara", "Ben", "Lily", "Max", "Emma", "Sam", "Mia", "Leo", "Zoe", "Jack", "Ava")
ITEMS = ("apples", "coins", "stickers", "marbles", "pencils", "cookies", "books", "stamps")


@dataclass(frozen=True)
class _Template:
    """A question pattern: `draw(rng)` returns the numbers, `build` the text and expression."""

    kind: str
    draw: Callable[[random.Random], dict[str, int]]
    text: str
    expression: str


def _add(r: random.Random) -> dict[str, int]:
    return {"a": r.randint(2, 20), "b": r.randint(2, 20)}


def _sub(r: random.Random) -> dict[str, int]:
    a = r.randint(5, 30)
    return {"a": a, "b": r.randint(1, a - 1)}


def _mul(r: random.Random) -> dict[str, int]:
    return {"a": r.randint(2, 6), "b": r.randint(2, 6)}


def _div(r: random.Random) -> dict[str, int]:
    b, q = r.randint(2, 5), r.randint(2, 6)
    return {"a": b * q, "b": b}


def _add_sub(r: random.Random) -> dict[str, int]:
    a, b = r.randint(3, 15), r.randint(2, 10)
    return {"a": a, "b": b, "c": r.randint(1, a + b - 1)}


def _add3(r: random.Random) -> dict[str, int]:
    return {"a": r.randint(1, 10), "b": r.randint(1, 10), "c": r.randint(1, 10)}


TEMPLATES: tuple[_Template, ...] = (
    _Template("add", _add, "{name} has {a} {item}. {pronoun} gets {b} more {item}. "
              "How many {item} does {name} have now?", "{a} + {b}"),
    _Template("add", _add, "There are {a} {item} in a box and {b} {item} on the table. "
              "How many {item} are there in total?", "{a} + {b}"),
    _Template("sub", _sub, "{name} had {a} {item}. {pronoun} gave away {b} {item}. "
              "How many {item} does {name} have left?", "{a} - {b}"),
    _Template("sub", _sub, "A shelf holds {a} {item}. {name} takes {b} of them. "
              "How many {item} are still on the shelf?", "{a} - {b}"),
    _Template("mul", _mul, "{name} has {a} bags. Each bag has {b} {item}. "
              "How many {item} does {name} have?", "{a} * {b}"),
    _Template("div", _div, "{name} shares {a} {item} equally among {b} friends. "
              "How many {item} does each friend get?", "{a} // {b}"),
    _Template("add_sub", _add_sub, "{name} has {a} {item}. {pronoun} finds {b} more and then "
              "loses {c}. How many {item} does {name} have now?", "{a} + {b} - {c}"),
    _Template("add3", _add3, "A book has three chapters with {a}, {b} and {c} pages. "
              "How many pages does the book have?", "{a} + {b} + {c}"),
)

_PRONOUNS = {"Tom": "He", "Ben": "He", "Max": "He", "Sam": "He", "Leo": "He", "Jack": "He"}


def split_of(question: str) -> str:
    """The split a question belongs to, from a stable hash of its text.

    >>> split_of("Tom has 3 apples. He gets 4 more apples. How many apples does Tom have now?")
    'eval'
    """
    bucket = int.from_bytes(hashlib.sha256(question.encode()).digest()[:8], "big") % 100
    return "eval" if bucket < EVAL_PERCENT else "train"


def _one(rng: random.Random) -> tuple[str, str, str]:
    """Draw one (kind, question, expression) from the templates."""
    t = rng.choice(TEMPLATES)
    numbers = t.draw(rng)
    name, item = rng.choice(NAMES), rng.choice(ITEMS)
    question = t.text.format(name=name, item=item, pronoun=_PRONOUNS.get(name, "She"), **numbers)
    return t.kind, question, t.expression.format(**numbers)


def demo_problems(split: str = "eval", n: int = 100, seed: int = 0) -> list[Problem]:
    """`n` distinct problems of one split, the same ones for the same (split, n, seed).

    >>> p = demo_problems("eval", n=2)[0]
    >>> str(eval(p.meta["expression"])) == p.gold
    True
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    rng = random.Random(f"grpo_compare.demo:{split}:{seed}")
    problems: list[Problem] = []
    seen: set[str] = set()
    for _ in range(n * 200):
        if len(problems) == n:
            break
        kind, question, expression = _one(rng)
        if question in seen or split_of(question) != split:
            continue
        seen.add(question)
        gold = str(eval(expression, {"__builtins__": {}}))  # expressions are built above, never user input
        problems.append(Problem(
            id=f"demo-{split}-{seed}-{len(problems):04d}",
            question=question,
            gold=gold,
            meta={"expression": expression, "kind": kind, "split": split, "seed": seed},
        ))
    if len(problems) < n:
        raise ValueError(f"could only generate {len(problems)} distinct {split} problems, asked {n}")
    return problems


if __name__ == "__main__":
    for p in demo_problems(n=5):
        print(f"{p.id}  {p.question}  -> {p.gold}  ({p.meta['expression']})")
