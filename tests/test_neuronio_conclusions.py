"""Chapter 3's comparisons between families and its closing list (elmbook.neuronio), on
hand-made summary rows: which conclusion each outcome of the runs produces."""

from __future__ import annotations

from typing import Any

import pytest

from elmbook import neuronio as nf

PROV = {"n_runs": 6, "scales": ["demo"], "data": ["stand-in"], "stand_in": True, "seeds": [0],
        "steps": [300], "hardware": ["cpu"]}
KW = {"scale": "demo", "paper_steps": 342_000, "command": "python -m elm.sweep spec.yaml"}


def row(family: str, auc: float, rmse: float = 1.0, size: str = "-", params: int = 1_000,
        n: int = 1, collapsed: tuple[int, ...] = ()) -> dict[str, Any]:
    """A :func:`elmbook.neuronio.summary_rows` row with the keys the comparisons read."""
    return {"family": family, "size": size, "n": n, "params": params, "auc_mean": auc,
            "soma_rmse_mv_mean": rmse, "collapsed": list(collapsed),
            "collapse": {s: "spike AUC 0.450 (chance 0.5)" for s in collapsed}}


def tiny(lif_auc: float = 0.90, simplest_auc: float = 0.92, **lif: Any) -> list[dict[str, Any]]:
    return [row("LIF", lif_auc, 3.0, params=1280, **lif),
            row("simplest ELM", simplest_auc, 2.0, params=1286)]


def tiny_line(lines: list[str], family: str) -> str:
    (line,) = [x for x in lines if x.startswith(f"- **{family} vs the tiny models")]
    return line


def test_verdict_says_which_is_better_per_metric():
    a, b = row("ELM", 0.95, 0.6), row("LSTM", 0.90, 0.8)
    assert nf.verdict(a, b) == "+0.0500 (better)"
    assert nf.verdict(b, a) == "-0.0500 (worse)"
    assert nf.verdict(a, b, "soma_rmse_mv") == "-0.2000 (better)"  # lower RMSE is better
    assert nf.verdict(a, row("LIF", 0.5, collapsed=(3,))) == (
        "+0.4500 (better; collapsed seeds in the mean of LIF)")
    assert nf.verdict(None, b) == nf.verdict(a, None) == "n/a (not trained at this scale)"


def test_a_margin_of_tie_or_more_over_both_tiny_models_is_clear():
    rows = [row("Branch-ELM", 0.93, 0.7, "d_m=10"), row("Branch-ELM", 0.95, 0.64, "d_m=20"),
            *tiny()]
    lines = nf.page_conclusions(rows, PROV, [], **KW)
    assert tiny_line(lines, "Branch-ELM") == (
        "- **Branch-ELM vs the tiny models (spike AUC).** The best Branch-ELM (d_m=20, 0.9500) "
        "beats LIF and simplest ELM; smallest margin +0.0300 (clearly). Soma RMSE: 0.640 mV "
        "against 3.000 (LIF) and 2.000 (simplest ELM). The paper (Tables S4-S6): every "
        "Branch-ELM size at least 0.9890 against 0.9117 (LIF) and 0.9255 (simplest ELM).")
    comparisons, _ = nf.family_comparisons(rows)
    assert comparisons[:-1] == [
        ["Branch-ELM d_m=20 vs LIF", "0.9500 vs 0.9000", "+0.0500 (better)", "0.640 vs 3.000",
         "-2.3600 (better)"],
        ["Branch-ELM d_m=20 vs simplest ELM", "0.9500 vs 0.9200", "+0.0300 (better)",
         "0.640 vs 2.000", "-1.3600 (better)"]]


def test_a_margin_below_tie_is_not_clear():
    rows = [row("ELM", 0.92 + nf.TIE_AUC / 2, size="d_m=20"), *tiny()]
    line = tiny_line(nf.page_conclusions(rows, PROV, [], **KW), "ELM")
    assert "beats LIF and simplest ELM; smallest margin +0.0050 (not clearly: the smallest " \
           f"margin is below {nf.TIE_AUC} AUC, which one seed cannot resolve)" in line
    assert "(clearly)" not in line


def test_a_loss_to_a_tiny_model_is_named_without_a_call():
    rows = [row("ELM", 0.91, size="d_m=20"), *tiny()]
    line = tiny_line(nf.page_conclusions(rows, PROV, [], **KW), "ELM")
    assert "(d_m=20, 0.9100) beats LIF, and does not beat simplest ELM; smallest margin " \
           "-0.0100. Soma RMSE" in line
    rows = [row("ELM", 0.80, size="d_m=20"), *tiny()]
    line = tiny_line(nf.page_conclusions(rows, PROV, [], **KW), "ELM")
    assert "beats neither (LIF and simplest ELM); smallest margin -0.1200. Soma" in line


def test_a_collapsed_seed_makes_the_margin_no_result():
    rows = [row("ELM", 0.95, size="d_m=20"), *tiny(lif_auc=0.45, collapsed=(1,))]
    lines = nf.page_conclusions(rows, PROV, [], **KW)
    assert "smallest margin +0.0300 (no result: collapsed seeds in the mean of LIF)" in \
        tiny_line(lines, "ELM")
    (collapsed,) = [x for x in lines if x.startswith("- **Collapsed runs.**")]
    assert "1 complete run(s) learnt nothing" in collapsed
    assert "LIF, seed 1: spike AUC 0.450 (chance 0.5). Each ended so after 300 training " \
           "steps" in collapsed
    comparisons, _ = nf.family_comparisons(rows)
    assert comparisons[0][2] == "+0.5000 (better; collapsed seeds in the mean of LIF)"


def test_missing_families_give_no_comparison():
    only_elm = [row("ELM", 0.95, size="d_m=20"), row("LSTM", 0.99, size="hidden=15", n=0)]
    comparisons, equal = nf.family_comparisons(only_elm)
    assert len(comparisons) == 1 and comparisons[0][0].startswith("paper")  # the paper's only
    assert len(equal) == 1 and equal[0][0].startswith("paper")  # an LSTM with no run is none
    lines = nf.page_conclusions(only_elm, PROV, [], **KW)
    assert [x.split("**")[1] for x in lines] == ["Runs."]
    assert nf.page_conclusions([], None, [], **KW) == [
        "- No runs in the store for scale 'demo'; make them with `python -m elm.sweep "
        "spec.yaml`."]
    # one tiny model trained: the ELM is compared with that one only
    line = tiny_line(nf.page_conclusions([row("ELM", 0.95, size="d_m=20"), tiny()[0]], PROV,
                                         [], **KW), "ELM")
    assert "beats LIF; smallest margin +0.0500 (clearly). Soma RMSE: 1.000 mV against 3.000 " \
           "(LIF). The paper" in line


def test_the_elm_lstm_pairs_are_nearest_in_parameters():
    elms = [row("ELM", 0.90, 0.9, "d_m=5", 20_000), row("ELM", 0.93, 0.8, "d_m=20", 60_000),
            row("ELM", 0.96, 0.7, "d_m=75", 250_000)]
    lstms = [row("LSTM", 0.95, 0.75, "hidden=15", 77_672),
             row("LSTM", 0.97, 0.65, "hidden=50", 265_902)]
    rows = [*elms, *lstms]
    pairs = nf.elm_lstm_pairs(rows)
    assert [(e["size"], lstm["size"]) for e, lstm in pairs] == [("d_m=20", "hidden=15"),
                                                                ("d_m=75", "hidden=50")]
    _, equal = nf.family_comparisons(rows)
    assert equal[0] == ["ELM d_m=20 (60,000) vs LSTM hidden=15 (77,672)", "0.77",
                        "0.9300 vs 0.9500", "-0.0200 (worse)", "0.800 vs 0.750",
                        "+0.0500 (worse)"]
    lines = nf.page_conclusions(rows, PROV, [], **KW)
    assert [x for x in lines if "ELM vs LSTM" in x] == [
        "- **ELM vs LSTM at about equal parameters.** ELM d_m=20 (60,000) vs LSTM hidden=15 "
        "(77,672): AUC 0.9300 vs 0.9500 (-0.0200 (worse) for the ELM), soma RMSE 0.800 vs "
        "0.750 mV (+0.0500 (worse) for the ELM).",
        "- **ELM vs LSTM at about equal parameters.** ELM d_m=75 (250,000) vs LSTM hidden=50 "
        "(265,902): AUC 0.9600 vs 0.9700 (-0.0100 (worse) for the ELM), soma RMSE 0.700 vs "
        "0.650 mV (+0.0500 (worse) for the ELM)."]
    assert nf.elm_lstm_pairs(lstms) == []  # no ELM trained: no pair


def test_the_paper_rows_carry_tables_s4_to_s7():
    comparisons, equal = nf.family_comparisons([])
    assert comparisons == [["paper (Tables S4-S6): every Branch-ELM / ELM size vs LIF / "
                            "simplest ELM", "0.9890-0.9927 / 0.9878-0.9927 vs 0.9117 / 0.9255",
                            "", "", ""]]
    assert equal == [["paper (Tables S6, S7): ELM d_m=20 (52,920) vs LSTM hidden=15 (77,670)",
                      "0.68", "0.9918 vs 0.9864", "+0.0054", "0.643 vs 0.717", "-0.074"]]
    # the same numbers as the tables' reader gives
    aucs = {f: [p.auc for p in nf.paper_points(f)] for f in ("Branch-ELM", "ELM")}
    assert (min(aucs["Branch-ELM"]), max(aucs["ELM"])) == (0.9890, 0.9927)
    (lif,) = nf.paper_points("LIF")
    assert f"{lif.auc:.4f}" in comparisons[0][1]
    e20 = next(p for p in nf.paper_points("ELM") if p.size == "d_m=20")
    assert (e20.params, e20.auc, e20.rmse) == (52_920, 0.9918, 0.643)
    assert nf.paper_points("LSTM")[0].size == "hidden=15"  # the smallest LSTM, nearest the ELM
    assert len(nf.PAIR_HEADER) == len(equal[0]) and len(nf.TINY_HEADER) == len(comparisons[0])


@pytest.mark.parametrize(("scale", "stand_in", "tail"), [
    ("demo", True, ", on the stand-in, not NeuronIO. They show that every model trains"),
    ("paper", False, ". These are the paper's protocol and data."),
    ("paper", True, ", on the stand-in, not NeuronIO. They show that every model trains")])
def test_the_runs_line_says_how_far_the_runs_are_from_the_protocol(scale, stand_in, tail):
    prov = {**PROV, "stand_in": stand_in, "steps": [300, 3_420], "scales": [scale]}
    first = nf.page_conclusions([], prov, [], **{**KW, "scale": scale})[0]
    assert first.startswith(f"- **Runs.** 6 runs, {nf.caption(prov)}: at most 1 % of the "
                            "paper's 342,000 steps per run, 1 seed(s)" + tail)


def test_the_low_fp_line_names_the_highest_protocol_tp_rate():
    # the highest AUC (Branch-ELM) is not the highest TP rate at FP 0.0025 (LSTM)
    roc_rows = [["Branch-ELM d_m=20", "8,022", "0.9700", "0.120", "0.400", "0.1", "0.4"],
                ["LSTM hidden=15", "77,672", "0.9600", "0.310", "0.500", "0.3", "0.5"],
                ["LIF", "1,280", "0.9000", "0.050", "0.200", "0.0", "0.2"]]
    lines = nf.page_conclusions([], PROV, roc_rows, **KW)
    assert lines[-1] == ("- **Low false-positive rates.** Highest TP rate at FP 0.0025 among "
                         "the restored models: LSTM hidden=15 (0.310).")
    assert not any("Low false-positive" in x for x in nf.page_conclusions([], PROV, [], **KW))


def test_the_conclusions_read_summary_rows_of_typed_records():
    """The same functions on rows that :func:`elmbook.neuronio.summary_rows` makes from run
    records (real parameter counts: ELM d_m=10 has 27,300, the LSTM of hidden size 15 77,672)."""
    from test_neuronio_figures import _record

    records = [_record("neuronio/elm/paper", 0, 0.95, 0.7, {"d_m": 10}),
               _record("neuronio/lstm-15/paper", 0, 0.96, 0.6),
               _record("neuronio/lif/paper", 0, 0.90, 3.0),
               _record("neuronio/simplest-elm/paper", 0, 0.92, 2.0)]
    rows = nf.summary_rows(records)
    comparisons, equal = nf.family_comparisons(rows)
    assert [c[0] for c in comparisons[:-1]] == ["ELM d_m=10 vs LIF", "ELM d_m=10 vs simplest ELM"]
    assert equal[0][:2] == ["ELM d_m=10 (27,300) vs LSTM hidden=15 (77,672)", "0.35"]
    lines = nf.page_conclusions(rows, nf.provenance(records), [], **KW)
    assert lines[0].startswith("- **Runs.** 4 runs, ")
    assert "smallest margin +0.0300 (clearly)" in tiny_line(lines, "ELM")
