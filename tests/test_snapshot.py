"""elmbook.snapshot: the committed study-scale records, what they cover, and stale labels."""

from __future__ import annotations

import json

import pytest

from elm.experiments.records import RunRecord
from elm.experiments.results import ResultsStore, code_hash
from elmbook import snapshot


def record(rid: str, code: str, **extra) -> dict:
    return {"run_id": rid, "experiment": "neuronio/elm/paper", "seed": 0, "scale": "study",
            "status": "complete", "code_hash": code, "code_version": "abc1234", **extra}


def test_every_snapshot_spec_is_a_study_scale_spec():
    for spec in snapshot.SPECS:
        cov = snapshot.coverage(spec, root=None)
        assert cov.runs and {r.scale for r in cov.runs} == {"study"}, spec
        assert len({r.run_id for r in cov.runs}) == len(cov.runs)
        assert all(len(r_seeds) >= 3 for r_seeds in _seeds(cov.runs).values()), spec


def _seeds(runs):
    seeds: dict[tuple, set[int]] = {}
    for r in runs:
        seeds.setdefault((r.experiment, json.dumps(dict(r.overrides), sort_keys=True)),
                         set()).add(r.seed)
    return seeds


def test_coverage_counts_held_missing_failed_and_stale_runs(tmp_path):
    runs = snapshot.coverage("study_neuronio_models", root=tmp_path).runs
    store = ResultsStore(tmp_path)
    store.write(record(runs[0].run_id, code_hash()))
    store.write(record(runs[1].run_id, "0" * 64))
    store.write(record(runs[2].run_id, code_hash(), status="failed",
                       error={"type": "ValueError", "message": "x"}))
    cov = snapshot.coverage("study_neuronio_models", root=tmp_path)
    assert set(cov.records) == {r.run_id for r in runs[:3]}
    assert len(cov.missing) == len(runs) - 3 and len(cov.failed) == 1
    assert (f"3 of {len(runs)} runs in the snapshot (1 failed, 1 made by other code)"
            in cov.summary())
    assert snapshot.command("study_neuronio_models") in cov.summary()
    assert snapshot.footprint(tmp_path)[0] == 3


def test_the_caption_note_names_the_commits_the_stale_runs_and_what_is_missing(tmp_path):
    runs = snapshot.coverage("study_neuronio_models", root=tmp_path).runs
    store = ResultsStore(tmp_path)
    store.write(record(runs[0].run_id, code_hash()))
    note = snapshot.coverage("study_neuronio_models", root=tmp_path).note()
    assert f"1 of {len(runs)} runs of book/sweeps/study_neuronio_models.yaml" in note
    assert "made at abc1234" in note and "this checkout's result code" in note
    assert f"{len(runs) - 1} still to train" in note
    store.write({**record(runs[1].run_id, "0" * 64), "code_version": "def5678"})
    store.write(record(runs[2].run_id, code_hash(), status="failed",
                       error={"type": "ValueError", "message": "x"}))
    note = snapshot.coverage("study_neuronio_models", root=tmp_path).note()
    assert "2 of" in note and "made at abc1234, def5678" in note
    assert "1 of them made by def5678, whose result code differs" in note
    assert f"{len(runs) - 2} still to train" in note  # the failed run counts as to train
    cov = snapshot.coverage("study_neuronio_models", root=tmp_path)
    assert len(cov.usable) == 2


def test_made_by_labels_only_records_of_other_code():
    assert snapshot.made_by(RunRecord.from_json(record("a", code_hash()))) == ""
    label = snapshot.made_by(RunRecord.from_json(record("b", "0" * 64)))
    assert "abc1234" in label


def test_command_names_the_spec_and_refuses_an_unknown_one():
    assert snapshot.command("study_shd") == (
        "python -m elm.sweep book/sweeps/study_shd.yaml --out-dir data/snapshot --keep-stale")
    with pytest.raises(ValueError, match="study_shd"):
        snapshot.command("shd")


def test_a_chapter_refuses_the_study_scale_and_names_the_snapshot():
    from elmbook import chapter

    with pytest.raises(ValueError, match="data/snapshot"):
        chapter.setup("study")


def test_a_chapter_reads_the_spec_of_its_scale(tmp_path):
    from elmbook import chapter

    for scale, name in [("smoke", "reproduction_effects_smoke.yaml"),
                        ("demo", "reproduction_effects_demo.yaml"),
                        ("paper", "reproduction_effects.yaml")]:
        ch = chapter.setup(scale, out_dir=tmp_path)
        assert ch.spec("reproduction_effects").name == name
        assert {r.scale for r in ch.runs("reproduction_effects")} == {scale}
    with pytest.raises(FileNotFoundError, match=r"no_such_smoke\.yaml"):
        chapter.setup("smoke", out_dir=tmp_path).spec("no_such")
