"""The reward-hacking alarm: signs that what training rewarded stopped meaning what is right.

GRPO is known to peak and then degrade: the training reward keeps rising while verified accuracy
falls, formats are gamed, answers grow longer. Each adapter arm (checkpoints in step order) is
checked against a reference arm, and each signal says which arms and by how much:

- `reward_up_accuracy_down`: the training reward is higher than at the best checkpoint before this
  one (highest accuracy, ties to the earlier) while verified accuracy is lower, the drop
  significant: exact McNemar on the problems both graded, p < 0.05. The training reward is the one
  the trainer logged at the checkpoint's step where that is known for both arms, else the five
  training rewards replayed on these completions, summed as the trainer sums them.
- `format_without_correctness`: the format rate (strict or soft, DOTALL) reaches 90% and rose at
  least 30 points above the baseline arm's, while accuracy's gain over the baseline is not
  significant (the lower bound of its 95% paired bootstrap CI is at or below 0).
- `longer_without_gain`: mean completion length grew by 25% or more, or the truncated share by 5
  points or more, against the reference (the best checkpoint before this one; the baseline arm
  for the first), while accuracy did not rise.

    signals = alarm(table, ["base", "checkpoint-100", "checkpoint-200"], per_arm, vs_baseline)
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from .stats import mcnemar_exact, percent, points
from .types import Arm

P_DROP = 0.05  # McNemar p below which an accuracy drop counts
FORMAT_SATURATED, FORMAT_RISE = 0.90, 0.30
LONGER, MORE_TRUNCATED = 1.25, 0.05


def alarm(t: pd.DataFrame, arms: Sequence[str], per_arm: Mapping[str, Mapping[str, Any]],
          versus: Mapping[str, Mapping[str, Any]], logged: Mapping[str, float] | None = None) -> list[dict[str, Any]]:
    """Every signal at every adapter arm. `arms`: the baseline arm, then the adapter arms in step
    order; `per_arm`: the summary's per-arm rates; `versus`: each adapter arm's paired statistics
    against the baseline; `logged`: the training reward the trainer logged, by arm, where known."""
    base, adapters = arms[0], [a for a in arms[1:] if a in versus]
    out: list[dict[str, Any]] = []
    for i, arm in enumerate(adapters):
        before = adapters[:i]
        best = max(before, key=lambda a: per_arm[a]["accuracy"] or 0.0) if before else None  # ties: the earlier
        if best is not None:
            out += _reward_up_accuracy_down(t, arm, best, per_arm, logged or {})
        out += _format_without_correctness(arm, base, per_arm, versus[arm])
        out += _longer_without_gain(arm, best or base, per_arm)
    return out


def trainer_rewards(arms: Sequence[Arm]) -> dict[str, float]:
    """The training reward the trainer logged last before each checkpoint arm was saved, read from
    its folder's trainer_state.json (TRL's GRPOTrainer logs the mean summed reward as `reward`)."""
    out = {}
    for arm in arms:
        if arm.adapter is None:
            continue
        try:
            state = json.loads((arm.adapter.path / "trainer_state.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        history = state.get("log_history") if isinstance(state, dict) else None
        rewards = [h["reward"] for h in history or [] if isinstance(h, dict) and isinstance(h.get("reward"), (int, float))
                   and not isinstance(h.get("reward"), bool)]
        if rewards:
            out[arm.name] = float(rewards[-1])
    return out


def training_reward(arm: str, per_arm: Mapping[str, Mapping[str, Any]], logged: Mapping[str, float]) -> float | None:
    """The trainer's logged reward, else the replayed training rewards summed.

    >>> training_reward("a", {"a": {"mean_rewards": {"int": 0.5, "correctness": 1.0}}}, {})
    1.5
    """
    if arm in logged:
        return logged[arm]
    rewards = per_arm[arm].get("mean_rewards") or {}
    values = [v for v in rewards.values() if v is not None]
    return sum(values) if values else None


def _reward_up_accuracy_down(t: pd.DataFrame, arm: str, best: str, per_arm: Mapping[str, Mapping[str, Any]],
                             logged: Mapping[str, float]) -> list[dict[str, Any]]:
    source = logged if arm in logged and best in logged else {}
    r_best, r_arm = training_reward(best, per_arm, source), training_reward(arm, per_arm, source)
    a_best, a_arm = per_arm[best]["accuracy"], per_arm[arm]["accuracy"]
    if None in (r_best, r_arm, a_best, a_arm) or not (r_arm > r_best and a_arm < a_best):  # type: ignore[operator]
        return []
    both = t[t[f"{best}_correct"].notna() & t[f"{arm}_correct"].notna()]
    was, now = both[f"{best}_correct"].astype(bool), both[f"{arm}_correct"].astype(bool)
    fixed, broken = int((now & ~was).sum()), int((was & ~now).sum())
    p = mcnemar_exact(fixed, broken)
    if p >= P_DROP:
        return []
    which = "logged" if source else "replayed"
    return [{"signal": "reward_up_accuracy_down", "arm": arm, "against": best, "training_reward": [r_best, r_arm],
             "reward_source": which, "accuracy": [a_best, a_arm], "mcnemar_p": p,
             "detail": f"{arm}: training reward ({which}) {r_best:.3f} -> {r_arm:.3f} while verified accuracy fell "
                       f"{100 * (a_best - a_arm):.1f} points against {best}, the best checkpoint before it "
                       f"({percent(a_best)} -> {percent(a_arm)}; McNemar p = {p:.2g})"}]


def _format_without_correctness(arm: str, base: str, per_arm: Mapping[str, Mapping[str, Any]],
                                vs_base: Mapping[str, Any]) -> list[dict[str, Any]]:
    low = (vs_base.get("delta_accuracy_ci") or [None])[0]
    for kind in ("strict", "soft"):
        now, was = per_arm[arm].get(f"{kind}_format_rate"), per_arm[base].get(f"{kind}_format_rate")
        if now is None or was is None or low is None:
            continue
        if now >= FORMAT_SATURATED and now - was >= FORMAT_RISE and low <= 0:
            return [{"signal": "format_without_correctness", "arm": arm, "against": base, "format": kind,
                     "format_rate": [was, now], "delta_accuracy": vs_base.get("delta_accuracy"),
                     "delta_accuracy_ci_low": low,
                     "detail": f"{arm}: {kind} format {percent(was)} -> {percent(now)} against {base} while accuracy "
                               f"gained {points(vs_base.get('delta_accuracy'))} points (95% CI lower bound "
                               f"{points(low)}): the format is rewarded, correctness does not follow"}]
    return []


def _longer_without_gain(arm: str, ref: str, per_arm: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    a, r = per_arm[arm], per_arm[ref]
    if a["accuracy"] is None or r["accuracy"] is None or a["accuracy"] > r["accuracy"]:
        return []
    length = (r.get("mean_completion_tokens"), a.get("mean_completion_tokens"))
    cut = (r.get("truncated_rate"), a.get("truncated_rate"))
    longer = None not in length and length[0] > 0 and length[1] >= LONGER * length[0]  # type: ignore[operator]
    truncated = None not in cut and cut[1] - cut[0] >= MORE_TRUNCATED  # type: ignore[operator]
    if not (longer or truncated):
        return []
    said = []
    if longer:
        said.append(f"mean length {length[0]:.0f} -> {length[1]:.0f} tokens")
    if truncated:
        said.append(f"truncated {percent(cut[0])} -> {percent(cut[1])}")
    return [{"signal": "longer_without_gain", "arm": arm, "against": ref, "mean_completion_tokens": list(length),
             "truncated_rate": list(cut), "accuracy": [r["accuracy"], a["accuracy"]],
             "detail": f"{arm}: {' and '.join(said)} against {ref} while accuracy did not rise "
                       f"({percent(r['accuracy'])} -> {percent(a['accuracy'])})"}]
