"""Two-sample tests, each with an effect size beside its p-value.

On a large sample a p-value alone calls any difference drift, however small (the complaint in
alibi-detect issue 960). Every check here therefore reports an effect size on a scale a person
can judge, and flags drift only when the difference is both significant and at least a practical
threshold.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats


@dataclass
class Check:
    """One comparison: its test, p-value, effect size and whether it counts as drift."""

    name: str
    test: str
    statistic: float
    p_value: float | None
    effect: float
    effect_name: str
    threshold: float
    alpha: float
    detail: dict[str, Any]

    @property
    def flagged(self) -> bool:
        significant = self.p_value is None or self.p_value < self.alpha
        return bool(significant and self.effect >= self.threshold)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "flagged": self.flagged}


def rbf_kernel(z: np.ndarray) -> tuple[np.ndarray, float]:
    """Gaussian kernel matrix of the rows of `z`, bandwidth = median pairwise distance."""
    sq = np.sum(z * z, axis=1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * (z @ z.T), 0.0)
    off = d2[np.triu_indices(len(z), k=1)]
    sigma2 = float(np.median(off)) if off.size else 1.0
    sigma2 = sigma2 if sigma2 > 0 else 1.0
    return np.exp(-d2 / (2.0 * sigma2)), sigma2


def _mmd2_many(k: np.ndarray, members: np.ndarray, n: int, m: int) -> np.ndarray:
    """Unbiased MMD^2 for each row of `members` (1 where the point is in the first sample).

    With x the indicator: sum_XX = x'Kx, sum_XY = x'K1 - x'Kx, sum_YY = 1'K1 - 2x'K1 + x'Kx;
    the diagonal (k(z, z) = 1) is taken out of the within-sample sums. One matrix product
    scores every permutation at once.
    """
    kx = members @ k  # (P, N)
    xkx = np.sum(kx * members, axis=1)
    xk1 = kx.sum(axis=1)
    total = k.sum()
    sxx = xkx - n
    syy = total - 2 * xk1 + xkx - m
    sxy = xk1 - xkx
    return sxx / (n * (n - 1)) + syy / (m * (m - 1)) - 2 * sxy / (n * m)


def mmd_test(
    x: np.ndarray, y: np.ndarray, *, permutations: int = 500, seed: int = 0
) -> tuple[float, float, float]:
    """(MMD^2, permutation p-value, kernel bandwidth^2) of samples `x` and `y`."""
    n, m = len(x), len(y)
    z = np.concatenate([x, y]).astype(np.float64)
    k, sigma2 = rbf_kernel(z)
    observed = np.zeros((1, n + m))
    observed[0, :n] = 1
    value = float(_mmd2_many(k, observed, n, m)[0])
    rng = np.random.default_rng(seed)
    null = []
    for start in range(0, permutations, 100):  # chunks keep the (P, N) matrix small
        rows = min(100, permutations - start)
        members = np.zeros((rows, n + m))
        for r in range(rows):
            members[r, rng.permutation(n + m)[:n]] = 1
        null.append(_mmd2_many(k, members, n, m))
    null_values = np.concatenate(null) if null else np.zeros(0)
    p = (1 + int(np.sum(null_values >= value))) / (1 + len(null_values))
    return value, float(p), sigma2


def classifier_auc(x: np.ndarray, y: np.ndarray, *, folds: int = 5, seed: int = 0) -> float:
    """Classifier two-sample test: cross-validated ROC AUC of a logistic regression telling
    `y` rows from `x` rows (0.5: indistinguishable; 1.0: fully separable). Out-of-fold scores
    only, so a classifier that memorises noise scores 0.5, not more."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    z = np.concatenate([x, y])
    t = np.concatenate([np.zeros(len(x)), np.ones(len(y))])
    scores = np.zeros(len(z))
    folds = max(2, min(folds, len(x), len(y)))
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(z, t):
        clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
        clf.fit(z[train], t[train])
        scores[test] = clf.predict_proba(z[test])[:, 1]
    return float(roc_auc_score(t, scores))


def distribution_shift(
    ref: Sequence[Sequence[str]], cur: Sequence[Sequence[str]]
) -> tuple[float, float | None, float, dict[str, Any]]:
    """Chi-square test of homogeneity of class counts; effect = total variation distance
    between the two class distributions (0: same; 1: disjoint). Returns
    (chi2, p, tvd, {"reference": shares, "current": shares})."""
    a: Counter[str] = Counter(c for row in ref for c in row)
    b: Counter[str] = Counter(c for row in cur for c in row)
    classes = sorted(set(a) | set(b))
    na, nb = sum(a.values()), sum(b.values())
    detail = {
        "reference": {c: a[c] / max(na, 1) for c in classes},
        "current": {c: b[c] / max(nb, 1) for c in classes},
    }
    if not na or not nb:
        return 0.0, None, 0.0, detail
    tvd = 0.5 * sum(abs(a[c] / na - b[c] / nb) for c in classes)
    if len(classes) < 2:
        return 0.0, 1.0, tvd, detail
    table = np.array([[a[c] for c in classes], [b[c] for c in classes]])
    chi2, p, _, _ = stats.chi2_contingency(table)
    return float(chi2), float(p), float(tvd), detail


def ks_shift(ref: np.ndarray, cur: np.ndarray) -> tuple[float, float]:
    """Kolmogorov-Smirnov: (D, p). D itself is the effect size (largest gap between the CDFs)."""
    res = stats.ks_2samp(ref, cur)
    return float(res.statistic), float(res.pvalue)


def rate_shift(ref: np.ndarray, cur: np.ndarray) -> tuple[float, float]:
    """(current mean - reference mean, Mann-Whitney p) of per-text rates."""
    diff = float(np.mean(cur) - np.mean(ref))
    if np.all(ref == ref[0]) and np.all(cur == ref[0]):
        return diff, 1.0
    return diff, float(stats.mannwhitneyu(ref, cur, alternative="two-sided").pvalue)
