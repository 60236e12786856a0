"""The confirmation stage of a search: re-measure the top configurations interleaved with the default.

In-search numbers are single runs, often taken while another trial shares the machine, and the best of many
noisy runs is biased upward (the winner's curse). So after the optimizer's budget the top-k distinct configs,
the default and the rule config are measured again on one slot, one at a time, in rounds:

    round 0: default, rules, c1, c2, ..., ck
    round 1: default, ck, ..., c2, c1, rules     (reversed, so slow drift cancels out)
    ...

Each config's ratio to the default (and to the rules) is taken within a round, so every ratio compares two
runs made minutes apart under the same conditions. The crowned config has the best median ratio to the default
among those measured in every round. Its gain is *significant* only when every round agrees it is better than
the default (a round the config failed counts against it) and the median gain is larger than the noise: the
larger of 1%, the half-range of its ratios and the default's coefficient of variation over the rounds.
Otherwise the search reports "no significant gain over the default".

This module is pure logic over trial rows (``TrialStore.rows()``); ``raytune.tune`` runs the schedule.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from raytune.records import Objective

DEFAULT, RULES = "default", "rules"
MIN_NOISE = 0.01


@dataclass(frozen=True)
class ConfirmItem:
    """One measurement of the confirmation schedule."""

    confirms: str  # "default", "rules" or the trial id of the search trial whose config it re-measures
    config: dict[str, Any]
    round: int


def _key(config: dict[str, Any]) -> str:
    return json.dumps(config, sort_keys=True, default=str)


def search_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows of the search itself (baselines and optimizer trials), without confirmation runs."""
    return [r for r in rows if not r.get("confirms")]


def pick_candidates(
    rows: Sequence[dict[str, Any]], objective: Objective, k: int
) -> list[tuple[str, dict[str, Any]]]:
    """The ``k`` best distinct configurations the optimizer found, as (trial id, config), best first.

    The default and rule configs are confirmed anyway, so a candidate equal to either is skipped.
    """
    ok = [
        r
        for r in search_rows(rows)
        if r["status"] == "SUCCEEDED" and r["objective"] is not None and not r.get("baseline")
    ]
    ok.sort(key=lambda r: r["objective"], reverse=objective.mode == "max")
    seen = {_key({})}
    seen |= {_key(r["config"]) for r in search_rows(rows) if r.get("baseline") == RULES}
    picked: list[tuple[str, dict[str, Any]]] = []
    for row in ok:
        key = _key(row["config"])
        if key in seen:
            continue
        seen.add(key)
        picked.append((row["trial_id"], row["config"]))
        if len(picked) == k:
            break
    return picked


def schedule(
    candidates: Sequence[tuple[str, dict[str, Any]]], rules_config: dict[str, Any] | None, rounds: int
) -> list[ConfirmItem]:
    """The order in which confirmation runs: the default first in every round, the others reversed every
    other round."""
    others = ([(RULES, rules_config)] if rules_config is not None else []) + list(candidates)
    items: list[ConfirmItem] = []
    for r in range(rounds):
        items.append(ConfirmItem(DEFAULT, {}, r))
        order = others if r % 2 == 0 else list(reversed(others))
        items.extend(ConfirmItem(label, dict(config), r) for label, config in order)
    return items


@dataclass(frozen=True)
class ConfirmedConfig:
    """A configuration's confirmation: its re-measured values and within-round ratios.

    Ratios are config / baseline objective values (below 1 is better for latency, above 1 for throughput).
    """

    confirms: str
    config: dict[str, Any]
    in_search: float | None
    values: tuple[float, ...]
    ratio_to_default: tuple[float, ...]
    ratio_to_rules: tuple[float, ...]
    significant: bool
    noise: float
    failed_rounds: int = 0  # rounds in which the default succeeded and this config did not

    @property
    def median_to_default(self) -> float | None:
        return statistics.median(self.ratio_to_default) if self.ratio_to_default else None

    @property
    def median_to_rules(self) -> float | None:
        return statistics.median(self.ratio_to_rules) if self.ratio_to_rules else None

    def to_dict(self, rounds: int) -> dict[str, Any]:
        """The ``confirmed`` entry of ``best.json``."""
        return {
            "ratio_to_default": {"median": self.median_to_default, "values": list(self.ratio_to_default)},
            "ratio_to_rules": {"median": self.median_to_rules, "values": list(self.ratio_to_rules)},
            "rounds": rounds,
            "values": list(self.values),
            "in_search": self.in_search,
            "noise": self.noise,
            "failed_rounds": self.failed_rounds,
            "significant": self.significant,
        }


@dataclass(frozen=True)
class Confirmation:
    """What the confirmation stage found."""

    rounds: int
    default_values: tuple[float, ...]
    rules_values: tuple[float, ...]
    configs: tuple[ConfirmedConfig, ...]  # rules and candidates, best median ratio to the default first
    crowned: ConfirmedConfig | None

    @property
    def significant(self) -> bool:
        return self.crowned is not None and self.crowned.significant


def _by_round(rows: Sequence[dict[str, Any]], confirms: str) -> dict[int, float]:
    return {
        int(r["round"]): r["objective"]
        for r in rows
        if r.get("confirms") == confirms and r["status"] == "SUCCEEDED" and r["objective"] is not None
    }


def _cv(values: Sequence[float]) -> float:
    if len(values) < 2 or statistics.mean(values) == 0:
        return 0.0
    return statistics.stdev(values) / abs(statistics.mean(values))


def _pairs(mine: dict[int, float], base: dict[int, float]) -> tuple[float, ...]:
    return tuple(mine[r] / base[r] for r in sorted(mine) if r in base and base[r] != 0)


def ratio_noise(ratios: Sequence[float], baseline_cv: float = 0.0) -> float:
    """The noise a median gain must exceed: the larger of 1%, the half-range of the within-round ratios and the
    baseline's coefficient of variation over the rounds."""
    return max(MIN_NOISE, (max(ratios) - min(ratios)) / 2, baseline_cv)


def beyond_noise(ratios: Sequence[float], objective: Objective, baseline_cv: float = 0.0) -> bool:
    """Whether within-round ratios (a config over a baseline) prove a gain: every round better, and the median
    gain larger than ``ratio_noise``."""
    return (
        bool(ratios)
        and all(objective.gain(x) > 0 for x in ratios)
        and objective.gain(statistics.median(ratios)) > ratio_noise(ratios, baseline_cv)
    )


def _median(c: ConfirmedConfig) -> float:
    median = c.median_to_default
    assert median is not None  # only configs with at least one ratio are kept
    return median


def analyse(rows: Sequence[dict[str, Any]], objective: Objective) -> Confirmation | None:
    """The confirmation of a search from its rows; None when it has no confirmation runs."""
    confirm_rows = [r for r in rows if r.get("confirms")]
    if not confirm_rows:
        return None
    rounds = 1 + max(int(r["round"]) for r in confirm_rows)
    default = _by_round(confirm_rows, DEFAULT)
    rules = _by_round(confirm_rows, RULES)
    in_search = {r["trial_id"]: r["objective"] for r in search_rows(rows)}
    in_search_rules = next((r["objective"] for r in search_rows(rows) if r.get("baseline") == RULES), None)
    configs = {r["confirms"]: r["config"] for r in confirm_rows if r["confirms"] != DEFAULT}
    default_cv = _cv(list(default.values()))
    confirmed: list[ConfirmedConfig] = []
    for label, config in configs.items():
        mine = _by_round(confirm_rows, label)
        to_default = _pairs(mine, default)
        if not to_default:
            continue  # every round of it (or of the default) failed
        noise = ratio_noise(to_default, default_cv)
        failed = len(set(default) - set(mine))
        confirmed.append(
            ConfirmedConfig(
                confirms=label,
                config=config,
                in_search=in_search_rules if label == RULES else in_search.get(label),
                values=tuple(mine[r] for r in sorted(mine)),
                ratio_to_default=to_default,
                ratio_to_rules=_pairs(mine, rules) if label != RULES else (),
                significant=failed == 0 and beyond_noise(to_default, objective, default_cv),
                noise=noise,
                failed_rounds=failed,
            )
        )
    # Configs measured in every round first, then by their median gain over the default.
    confirmed.sort(key=lambda c: (c.failed_rounds > 0, -objective.gain(_median(c))))
    return Confirmation(
        rounds=rounds,
        default_values=tuple(default[r] for r in sorted(default)),
        rules_values=tuple(rules[r] for r in sorted(rules)),
        configs=tuple(confirmed),
        crowned=confirmed[0] if confirmed else None,
    )
