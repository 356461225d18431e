"""elmbook.claims: verdicts of the paper's claims from groups of seeds."""

from __future__ import annotations

import math

from elmbook import claims


def test_a_clear_difference_supports_and_its_reverse_contradicts():
    elm, lstm = [0.95, 0.96, 0.955], [0.90, 0.91, 0.905]
    v = claims.ahead(elm, lstm, names=("ELM", "LSTM"))
    assert v.outcome == claims.SUPPORTS
    assert v.evidence.startswith("ELM 0.955 ± 0.004 (n 3) vs LSTM 0.905 ± 0.004 (n 3)")
    assert claims.ahead(lstm, elm).outcome == claims.CONTRADICTS


def test_lower_is_better_flips_the_direction():
    rmse_a, rmse_b = [1.0, 1.1, 1.05], [2.0, 2.1, 2.05]
    assert claims.ahead(rmse_a, rmse_b, higher_is_better=False).outcome == claims.SUPPORTS
    assert claims.ahead(rmse_a, rmse_b).outcome == claims.CONTRADICTS


def test_overlapping_seeds_and_too_few_seeds_cannot_decide():
    assert claims.ahead([0.5, 0.7, 0.6], [0.55, 0.65, 0.6]).outcome == claims.UNDECIDED
    v = claims.ahead([0.9, 0.95], [0.1, 0.2, 0.3])
    assert v.outcome == claims.UNDECIDED and "under 3 seeds" in v.evidence


def test_non_finite_values_are_left_out_and_counted():
    v = claims.ahead([0.9, 0.91, math.nan, 0.92], [0.5, 0.52, 0.51])
    assert v.outcome == claims.SUPPORTS and "1 non-finite left out" in v.evidence
    assert claims.ahead([math.nan] * 3, [0.5] * 3).outcome == claims.UNDECIDED


def test_no_spread_decides_by_the_means():
    assert claims.ahead([0.2] * 3, [0.1] * 3).outcome == claims.SUPPORTS
    assert claims.ahead([0.1] * 3, [0.1] * 3).outcome == claims.UNDECIDED


def test_the_table_quotes_each_claim():
    v = claims.ahead([0.9] * 3, [0.1] * 3)
    t = claims.table([claims.Claim("The ELM neuron consistently outperforms a classic LSTM",
                                   "Fig 5 caption", v)])
    assert t.rows[0][0] == "“The ELM neuron consistently outperforms a classic LSTM”"
    assert t.rows[0][3] == claims.SUPPORTS


def test_a_sentence_tested_twice_is_quoted_once():
    v = claims.ahead([0.9] * 3, [0.1] * 3)
    t = claims.table([claims.Claim("A", "Fig 1", v, "x"), claims.Claim("A", "Fig 1", v, "y"),
                      claims.Claim("B", "Fig 2", v, "z")])
    assert [r[0] for r in t.rows] == ["“A”", "(same sentence)", "“B”"]
    assert [r[2] for r in t.rows] == ["x", "y", "z"]


def test_the_tally_counts_each_outcome():
    yes, no = claims.ahead([0.9] * 3, [0.1] * 3), claims.ahead([0.1] * 3, [0.9] * 3)
    out = [claims.Claim("A", "x", yes), claims.Claim("B", "x", yes), claims.Claim("C", "x", no)]
    assert claims.tally(out) == "2 supports, 1 contradicts, 0 cannot decide"
