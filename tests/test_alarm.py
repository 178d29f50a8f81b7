"""The reward-hacking alarm's rules, on tables of cases (no model): each signal fires where its rule
says and stays quiet where it does not."""

from __future__ import annotations

import pandas as pd
import pytest

from grpo_compare.alarm import alarm, training_reward


def arm_rates(accuracy, strict=0.0, soft=0.0, tokens=100.0, truncated=0.0, reward=1.0):
    return {"accuracy": accuracy, "strict_format_rate": strict, "soft_format_rate": soft,
            "mean_completion_tokens": tokens, "truncated_rate": truncated,
            "mean_rewards": {"xmlcount": 0.0, "soft_format": 0.0, "strict_format": 0.0, "int": 0.0,
                             "correctness": reward}}


def table(**correct):
    """A comparison table with one `<arm>_correct` column per arm (True/False/None per problem)."""
    return pd.DataFrame({f"{arm}_correct": values for arm, values in correct.items()})


def versus(delta, low):
    return {"delta_accuracy": delta, "delta_accuracy_ci": [low, delta + 0.1]}


N = 40
R = [True] * 30 + [False] * 10  # 75%
DROP = [True] * 15 + [False] * 25  # 37.5%, every loss a problem the earlier one had right
FLAT = [True] * 10 + [False] * 30  # 25%


@pytest.mark.parametrize("case, rates, correct, logged, expected", [
    # the reward rose, accuracy fell 15 problems of 30: a real drop
    ("reward up, accuracy down", {"c1": arm_rates(0.75, reward=1.0), "c2": arm_rates(0.375, reward=1.6)},
     {"c1": R, "c2": DROP}, None, {("reward_up_accuracy_down", "c2", "c1")}),
    # the same drop with a falling reward is a worse checkpoint, not a hacked reward
    ("reward down too", {"c1": arm_rates(0.75, reward=1.6), "c2": arm_rates(0.375, reward=1.0)},
     {"c1": R, "c2": DROP}, None, set()),
    # reward up and two problems fewer: within noise (McNemar p = 0.5)
    ("small drop", {"c1": arm_rates(0.75, reward=1.0), "c2": arm_rates(0.70, reward=1.6)},
     {"c1": R, "c2": [True] * 28 + [False] * 12}, None, set()),
    # the trainer's logged reward wins over the replayed one where both arms have it
    ("logged reward rose", {"c1": arm_rates(0.75, reward=1.6), "c2": arm_rates(0.375, reward=1.0)},
     {"c1": R, "c2": DROP}, {"c1": 0.4, "c2": 0.9}, {("reward_up_accuracy_down", "c2", "c1")}),
    # the reference is the best checkpoint before, not the one just before
    ("against the best so far", {"c1": arm_rates(0.75, reward=1.0), "c2": arm_rates(0.25, reward=0.5),
                                 "c3": arm_rates(0.375, reward=1.2)},
     {"c1": R, "c2": FLAT, "c3": DROP}, None, {("reward_up_accuracy_down", "c3", "c1")}),
])
def test_reward_up_accuracy_down(case, rates, correct, logged, expected):
    per_arm = {"base": arm_rates(0.25)} | rates
    t = table(base=FLAT, **correct)
    vs = {a: versus(0.3, 0.1) for a in rates}
    fired = {(s["signal"], s["arm"], s["against"]) for s in alarm(t, ["base", *rates], per_arm, vs, logged)}
    assert {f for f in fired if f[0] == "reward_up_accuracy_down"} == expected, case


@pytest.mark.parametrize("case, base, arm, vs, fires", [
    # strict format 0% -> 95% while accuracy's gain over base is not significant
    ("format gamed", arm_rates(0.25), arm_rates(0.27, strict=0.95), versus(0.02, -0.05), True),
    # the soft format alone saturating counts too
    ("soft format gamed", arm_rates(0.25, soft=0.1), arm_rates(0.25, soft=0.98), versus(0.0, -0.08), True),
    # format and correctness together: the demo adapter (0% -> 100%, +62 points, CI +52 to +72)
    ("format and correctness", arm_rates(0.21), arm_rates(0.83, strict=1.0, soft=1.0), versus(0.62, 0.52), False),
    # the format did not saturate
    ("format at 80%", arm_rates(0.25), arm_rates(0.25, strict=0.8), versus(0.0, -0.05), False),
    # base already had the format: nothing rose
    ("format was there", arm_rates(0.25, strict=0.8), arm_rates(0.25, strict=0.95), versus(0.0, -0.05), False),
])
def test_format_without_correctness(case, base, arm, vs, fires):
    t = table(base=FLAT, c1=FLAT)
    fired = [s for s in alarm(t, ["base", "c1"], {"base": base, "c1": arm}, {"c1": vs}) if s["signal"] == "format_without_correctness"]
    assert bool(fired) == fires, case


@pytest.mark.parametrize("case, rates, fires", [
    # 100 -> 130 tokens and no accuracy gain
    ("longer", {"c1": arm_rates(0.5, tokens=100), "c2": arm_rates(0.5, tokens=130)}, {"c2"}),
    # 2% -> 9% truncated and accuracy down
    ("more truncated", {"c1": arm_rates(0.5, truncated=0.02), "c2": arm_rates(0.45, truncated=0.09)}, {"c2"}),
    # longer, but accuracy rose: paid for
    ("longer and better", {"c1": arm_rates(0.5, tokens=100), "c2": arm_rates(0.6, tokens=200)}, set()),
    # 20% longer: under the threshold
    ("a little longer", {"c1": arm_rates(0.5, tokens=100), "c2": arm_rates(0.5, tokens=120)}, set()),
    # the first checkpoint is held against the baseline arm: the demo adapter is shorter than base
    ("shorter than base", {"c1": arm_rates(0.83, tokens=36)}, set()),
])
def test_longer_without_gain(case, rates, fires):
    per_arm = {"base": arm_rates(0.21, tokens=136, truncated=0.07)} | rates
    t = table(base=FLAT, **{a: FLAT for a in rates})
    vs = {a: versus(0.3, 0.1) for a in rates}
    fired = {s["arm"] for s in alarm(t, ["base", *rates], per_arm, vs) if s["signal"] == "longer_without_gain"}
    assert fired == fires, case


def test_each_signal_says_which_arms_and_by_how_much():
    per_arm = {"base": arm_rates(0.25), "c1": arm_rates(0.75, reward=1.0), "c2": arm_rates(0.375, reward=1.6)}
    signal = alarm(table(base=FLAT, c1=R, c2=DROP), ["base", "c1", "c2"], per_arm,
                   {"c1": versus(0.5, 0.3), "c2": versus(0.1, 0.01)})[0]
    assert signal["detail"].startswith("c2: training reward (replayed) 1.000 -> 1.600")
    assert "fell 37.5 points against c1" in signal["detail"] and signal["mcnemar_p"] < 0.05


def test_no_adapter_arm_means_no_signal():
    assert alarm(table(base=FLAT, other=FLAT), ["base", "other"], {"base": arm_rates(0.2), "other": arm_rates(0.2)}, {}) == []
    assert training_reward("x", {"x": {"mean_rewards": {}}}, {}) is None
