"""numerics.app._report: the pieces of the summary, on sweeps whose answer is known.

The whole command runs in CI (`.ci/run` runs `vae-collapse report` and checks every
file the summary links to); these tests check what the summary says.
"""

from __future__ import annotations

import numpy as np
import pytest

from numerics import optimum
from numerics.app._report import mlp_sweep
from numerics.app._summary import _follow_up_section, _mlp_section, _table
from numerics.training._measure import TrainingReport
from numerics.training._residual import ResidualPrediction
from numerics.training._sweep import SweepResult
from numerics.training._transitions import measure_transitions

SPECTRUM = np.array([4.0, 2.0, 1.0])


def exact_report(
    sigma2, kl_override=None, model="mlp", options=None, residual=None
) -> TrainingReport:
    """A 'trained' sweep made of the theory's optima: every transition is known.

    ``residual``: rank -> the residual-spectrum prediction of its step, as given."""
    kl = np.array([[m.kl for m in optimum(SPECTRUM, s).modes] for s in sigma2])[:, None, :]
    if kl_override is not None:
        kl = kl_override(kl)
    sweep = SweepResult(
        sigma2, (0,), kl, np.ones_like(kl), np.zeros((sigma2.size, 1)), model, options or {}, 1.0
    )
    predictions = [
        ResidualPrediction(rank, value, 0.01 * value, float(sigma2[0]), None)
        for rank, value in (residual or {}).items()
    ]
    return TrainingReport(
        sweep, SPECTRUM, SPECTRUM, measure_transitions(sweep, SPECTRUM), 1.0,
        {"source": "test"}, None, predictions or None,
    )  # fmt: skip


def test_mlp_sweep_spans_the_top_three_transitions():
    grid = mlp_sweep(np.array([179.0, 164.0, 142.0]))
    assert grid[0] < 142.0 < 164.0 < 179.0 < grid[-1]
    assert grid[0] == pytest.approx(0.8 * 142.0) and grid[-1] == pytest.approx(1.08 * 179.0)
    assert (np.diff(np.log(grid)) > 0).all()
    one = mlp_sweep(np.array([2.0, 0.0]))  # a single non-zero mode
    assert one[0] < 2.0 < one[-1]
    with pytest.raises(ValueError, match="every eigenvalue is 0"):
        mlp_sweep(np.zeros(3))


def test_table_rows_say_measured_never_active_or_beyond_the_sweep():
    sigma2 = np.geomspace(1.5, 3.0, 30)  # covers lambda = 2 only

    def silence_rank_3(kl):
        kl[:, :, 2] = 0.0
        return kl

    rows = _table(exact_report(sigma2, silence_rank_3), absolute=True)
    assert rows[0].count("|") == rows[1].count("|") == 8  # 7 columns
    rank1, rank2, rank3 = rows[2:]
    assert "beyond the sweep" in rank1
    assert "| 2 | 2 | 2 | +0.00 % | +0.0000 |" in rank2  # exact law: exact estimate
    assert "never active" in rank3


def test_mlp_section_reports_idle_ranks_only_when_they_are_idle():
    sigma2 = np.geomspace(0.8, 4.6, 40)
    options = dict(hidden=[32, 32], decoder_hidden=[32, 32], latent_dim=3, batch_size=256,
                   anchor_steps=4000, steps=2000)  # fmt: skip
    plain = "\n".join(_mlp_section(exact_report(sigma2, options=options), "test"))
    assert "never activates" not in plain
    assert "0.8 the MLP's top latent carries 0.805 nats, the linear optimum 0.805" in plain
    assert "as much as a linear decoder, no more" in plain

    def silence_rank_3(kl):
        kl[:, :, 2] = 0.0
        return kl

    # Rank 3 idle over the whole sweep: the residual spectrum explains it when it puts the
    # step below the sweep's low end (0.8), and does not when it puts it inside.
    for step, verdict in ((0.6, "explains its absence"), (1.5, "does not explain")):
        report = exact_report(sigma2, silence_rank_3, options=options, residual={3: step})
        idle = "\n".join(_mlp_section(report, "t"))
        assert "Rank 3 never activates in the sweep" in idle and verdict in idle
    # A measured step next to its residual prediction: agreement within two errors.
    report = exact_report(sigma2, options=options, residual={2: 2.01, 3: 1.5})
    text = "\n".join(_mlp_section(report, "t"))
    assert "Rank 2: the MLP's step at 2 agrees with its residual-spectrum prediction 2.01" in text
    assert "Rank 3: the MLP's step at 1 differs from" in text

    def double_rank_1(kl):
        kl[:, :, 0] *= 2
        return kl

    more = "\n".join(_mlp_section(exact_report(sigma2, double_rank_1, options=options), "t"))
    assert "carries 1.609 nats, the linear optimum 0.805: a nonlinear decoder does more" in more

    def all_collapsed(kl):  # a run that never left the collapsed state
        return np.zeros_like(kl)

    stuck = "\n".join(_mlp_section(exact_report(sigma2, all_collapsed, options=options), "t"))
    assert "less than the linear optimum 0.805" in stuck
    assert "does not test the theory" in stuck
    assert "top step is the linear" not in stuck and "never activates" not in stuck


def test_follow_up_section_states_the_largest_deviation():
    sigma2 = np.geomspace(0.8, 4.6, 40)

    def shift_rank_2(kl):  # rank 2 collapses at 2.2 instead of 2
        kl[:, 0, 1] = [optimum([2.2], s).modes[0].kl for s in sigma2]
        return kl

    report = exact_report(sigma2, shift_rank_2, options={"n_samples": 100})
    text = "\n".join(_follow_up_section(report))
    assert "Largest |measured - predicted|: 0.2000 in σ'² (3 of 3 steps measured)" in text


def test_linear_batches_shrink_on_wide_data_and_not_on_digits():
    from numerics.app._report import _linear_batch

    assert _linear_batch(64) == 2048  # digits: as configured
    assert _linear_batch(256) == 512  # the same rows x dimensions
    assert _linear_batch(10**6) == 128  # the floor
