"""Negative-surge detection per series (a topic or an organisation), one closed window at a time.

Each series keeps a few numbers (bounded state, JSON-serialisable, stored with the series): an
exponentially weighted count of negative and other events (the baseline), the windows seen,
the CUSUM statistic and its last alert. Three methods, chosen with bench/monitor.py:

- beta-binomial (default): the window's negative count k of n against the Beta-binomial
  predictive of the baseline share. Volume is built in: 3 negatives of 4 is no surprise, 90 of
  300 against a 20% baseline is. The baseline's pseudo-count is capped so that it never becomes
  certain, which absorbs overdispersion (slow drifts, daily cycles) that a plain binomial reads
  as surges. scipy's `betabinom` gives the tail.
- cusum: Page's CUSUM of the Bernoulli log-likelihood ratio (baseline vs `cusum_lift` x it).
- threshold: a fixed negative share (what a cron job does; the naive baseline of the bench).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from scipy.stats import betabinom

from cotune.apps.monitor.config import DetectorConfig

SEVERITY_RANK = {"warning": 1, "high": 2, "critical": 3}
# a window that alerted still teaches the baseline, at this weight: a lasting shift becomes the
# new normal over hours, while a surge does not wash itself out of its own baseline
SURGE_WEIGHT = 0.2


@dataclass
class Verdict:
    surge: bool
    baseline: float  # baseline negative share before this window
    observed: float
    volume: int
    negatives: int
    p_value: float | None
    statistic: float | None
    severity: str


def severity_of(lift: float) -> str:
    return "critical" if lift >= 3 else "high" if lift >= 2 else "warning"


def new_state() -> dict[str, Any]:
    return {"neg": 0.0, "other": 0.0, "windows": 0, "cusum": 0.0, "last_win": None, "recent": []}


class Detector:
    def __init__(self, cfg: DetectorConfig) -> None:
        self.cfg = cfg
        self.decay = 0.5 ** (1.0 / cfg.halflife_windows)

    def judge(self, st: dict[str, Any], win: int, n: int, k: int) -> Verdict:
        """Test window `win` (n events, k negative) against the series' state, then fold the
        window into the state (in place)."""
        cfg = self.cfg
        if st.get("last_win") is not None:
            gap = max(0, win - int(st["last_win"]))
            st["neg"] *= self.decay**gap
            st["other"] *= self.decay**gap
        mass = st["neg"] + st["other"]
        # a prior of one pseudo-event either way keeps a new series' baseline off 0 and 1
        baseline = (st["neg"] + 0.5) / (mass + 1.0)
        observed = k / n if n else 0.0
        lift = observed / baseline if baseline > 0 else math.inf
        ready = st["windows"] >= cfg.warmup_windows and n >= cfg.min_volume
        p_value: float | None = None
        statistic: float | None = None
        recent = [r for r in st.get("recent", []) if 0 < win - r[0] < cfg.span_windows]
        if cfg.method == "beta-binomial":
            strength = min(mass + 1.0, cfg.baseline_strength)
            a, b = baseline * strength, (1 - baseline) * strength
            # this window alone, and summed with the windows just before it: a sustained
            # moderate surge shows in the sum before any one window is sure (Bonferroni over both)
            tests = [(n, k)]
            if recent:
                tests.append((n + sum(r[1] for r in recent), k + sum(r[2] for r in recent)))
            surge = False
            for tn, tk in tests:
                # the tail costs a scipy call: only asked where the share could alert at all
                if not ready or tk < cfg.min_lift * baseline * tn:
                    continue
                p = float(betabinom.sf(tk - 1, tn, a, b)) * len(tests)
                p_value = p if p_value is None else min(p_value, p)
                surge = surge or p < cfg.p_value
        elif cfg.method == "cusum":
            p0 = min(max(baseline, 1e-4), 0.99)
            p1 = min(cfg.cusum_lift * p0, 0.999)
            llr = k * math.log(p1 / p0) + (n - k) * math.log((1 - p1) / (1 - p0))
            st["cusum"] = statistic = max(0.0, float(st["cusum"]) + llr) if ready else 0.0
            surge = ready and statistic > cfg.cusum_h and lift >= cfg.min_lift
            if surge:
                st["cusum"] = 0.0
        else:
            surge = ready and observed >= cfg.threshold
        weight = SURGE_WEIGHT if surge else 1.0
        st["neg"] += weight * k
        st["other"] += weight * (n - k)
        st["windows"] += 1
        st["last_win"] = win
        st["recent"] = (
            [*recent, [win, n, k]][-(cfg.span_windows - 1) :] if cfg.span_windows > 1 else []
        )
        return Verdict(surge, baseline, observed, n, k, p_value, statistic, severity_of(lift))


def cooled_down(st: dict[str, Any], win: int, severity: str, cooldown_windows: float) -> bool:
    """Whether an alert of `severity` for window `win` may go out: not within the cool-down of
    the series' last alert, unless it is more severe (an escalation is news)."""
    last = st.get("last_alert_win")
    if last is None or win - int(last) > cooldown_windows:
        return True
    return SEVERITY_RANK[severity] > SEVERITY_RANK.get(str(st.get("last_severity")), 0)
