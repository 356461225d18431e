"""elmbook.sizes: the paper configurations' counts and the one setting that would close a gap."""

from __future__ import annotations

from elmbook import sizes


def elm_count(num_input: int, d_m: int, d_mlp: int, num_output: int) -> int:
    """Equation (1)'s trainable parameters, one hidden layer: w_s, the MLP with biases, the
    readout w_y with bias, and the learnable tau_m."""
    mlp = (num_input + d_m) * d_mlp + d_mlp + d_mlp * d_m + d_m
    return num_input + mlp + d_m * num_output + num_output + d_m


def test_count_matches_the_formula_for_the_stated_configurations():
    assert sizes.count("lra/text/elm/paper") == elm_count(169, 150, 300, 2) == 141_771
    assert sizes.count("shd/elm/paper") == elm_count(700, 100, 200, 20) == 183_120
    assert sizes.count("shd/elm/paper", {"d_m": 101}) == elm_count(700, 101, 202, 20)


def test_closest_agrees_with_a_scan_of_every_value():
    target = 186_000
    found = sizes.closest("shd/elm/paper", "d_mlp", target, 150, 260)
    scan = min(range(150, 261), key=lambda v: abs(elm_count(700, 100, v, 20) - target))
    assert (found.value, found.stated) == (scan, 200)
    assert found.params == elm_count(700, 100, scan, 20)


def test_candidates_for_the_text_gap():
    d_m, d_mlp = sizes.candidates("lra/text/elm/paper", 200_000, [("d_m", 100, 300),
                                                                  ("d_mlp", 100, 800)])
    assert d_m.stated == 150 and abs(d_m.params - 200_000) <= abs(
        elm_count(169, d_m.value + 1, 2 * (d_m.value + 1), 2) - 200_000)
    assert d_mlp.stated == 300 and d_mlp.params == elm_count(169, 150, d_mlp.value, 2)


def test_gap_note_names_both_counts_and_the_candidates():
    found = sizes.candidates("lra/text/elm/paper", 200_000, [("d_m", 100, 300)])
    note = sizes.gap_note("lra/text/elm/paper", 200_000, "~200k", found, "Table S2")
    assert note.startswith("`lra/text/elm/paper`: the configuration of Table S2 gives")
    assert "141,771 trainable parameters, 29.1% below the paper's ~200k" in note
    assert f"`d_m` = {found[0].value} instead of 150 ({found[0].params:,})" in note
    close = sizes.gap_note("lra/text/elm/paper", 141_800, "~142k", [], "Table S2")
    assert "within rounding" in close
