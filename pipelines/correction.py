"""The positive share corrected for the sentiment model's known errors.

A model that calls 24% of negative items positive inflates the positive share of a month full
of bad news. With M[i][j] = P(predicted j | true i), measured on the labelled held-out set
beside the model (evaluation.json: "real_news", the real-news set, else "domain_heldout"), the
expected predicted distribution is
q = Mᵀp; solving for p and projecting onto the simplex gives the corrected shares (the matrix
misclassification correction, Buonaccorsi 2010, ch. 3). Its 95% interval comes from a
parametric bootstrap that redraws both the period's label shares and every row of M (each a
Dirichlet over its counts plus one half), so it carries the uncertainty of the small
evaluation set and of a handful of items too.
The held-out set is sentences; items are scored from their sentences about the place, so the
correction assumes item errors behave like sentence errors — the report says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nlp.model_evaluation import LABELS, Confusion, load_confusion

__all__ = ["LABELS", "Confusion", "CorrectedShare", "ShareCorrector", "load_confusion"]


@dataclass(frozen=True)
class CorrectedShare:
    share: float
    interval: tuple[float, float]
    shares: dict[str, float]  # all three corrected shares


def _to_simplex(p: np.ndarray) -> np.ndarray:
    """Clip negative shares to 0 and renormalise (rows of a 2-D array, or one vector)."""
    clipped = np.clip(p, 0.0, None)
    total = clipped.sum(axis=-1, keepdims=True)
    return np.where(total > 0, clipped / np.where(total > 0, total, 1), 1 / len(LABELS))


class ShareCorrector:
    """Reusable for every period of a series: the bootstrap draws of M are made once."""

    def __init__(self, confusion: Confusion, draws: int = 2000, seed: int = 20200101) -> None:
        self.confusion = confusion
        counts = np.asarray(confusion.counts, dtype=float)
        self._m_hat_t_inv = np.linalg.pinv((counts / counts.sum(axis=1, keepdims=True)).T)
        self._rng = np.random.default_rng(seed)
        self._draws = draws
        # Dirichlet(counts + 1/2) per gold row: Jeffreys-like, never a zero probability
        rows = np.stack(
            [self._rng.dirichlet(row + 0.5, size=draws) for row in counts], axis=1
        )  # (draws, gold, pred)
        self._m_t_inv = np.linalg.pinv(np.transpose(rows, (0, 2, 1)))
        self._seed = seed

    def correct(self, counts: dict[str, int]) -> CorrectedShare | None:
        observed = np.array([counts.get(label, 0) for label in LABELS], dtype=float)
        n = int(observed.sum())
        if n == 0:
            return None
        q = observed / n
        point = _to_simplex(self._m_hat_t_inv @ q)
        # same seed per call: a period's interval does not depend on which periods came before
        rng = np.random.default_rng(self._seed + n)
        # Dirichlet(counts + 1/2) rather than a multinomial around q: a label seen 0 times
        # out of 2 is not known to be rare, and the interval must say so
        q_draws = rng.dirichlet(observed + 0.5, size=self._draws)
        p_draws = _to_simplex(np.einsum("dij,dj->di", self._m_t_inv, q_draws))
        pos = LABELS.index("positive")
        lo, hi = np.percentile(p_draws[:, pos], [2.5, 97.5])
        return CorrectedShare(
            float(point[pos]),
            (float(lo), float(hi)),
            {label: round(float(v), 4) for label, v in zip(LABELS, point, strict=True)},
        )
