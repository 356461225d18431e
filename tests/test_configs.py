"""The paper's settings as code: every experiment builds, cites its sources, and counts right."""

from __future__ import annotations

import dataclasses

import pytest
from flax import nnx

import elm
from elm.experiments import configs


@pytest.mark.parametrize("name", configs.names())
def test_every_experiment_builds_and_cites_every_setting(name):
    exp = configs.get(name)
    model = nnx.eval_shape(lambda: exp.build(nnx.Rngs(0)))
    assert elm.count_params(model) > 0
    cited = set(exp.sources)
    # num_input / num_output are facts of the dataset; every other setting needs a source
    missing = {k for k in exp.model_args if k not in ("num_input", "num_output")} - cited
    missing |= {f"train.{f.name}" for f in dataclasses.fields(exp.train)} - cited - {
        f"train.{f.name}" for f in dataclasses.fields(exp.train)
        if f.default is not dataclasses.MISSING and getattr(exp.train, f.name) == f.default}
    assert not missing, f"{name}: settings without a source: {sorted(missing)}"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("neuronio/branch-elm/released", 8002),  # num_memory_20/model_stats.json
        ("neuronio/lstm-15/paper", 77_672),  # Table S7 (77.67K)
        ("neuronio/lstm-50/paper", 265_902),  # Table S7 (265.9K)
        # Branch-ELM with learnable tau_m: 8002 + 20; the paper prints 8.1K (Table S5)
        ("neuronio/branch-elm/paper", 8022),
    ],
)
def test_parameter_counts(name, expected):
    model = nnx.eval_shape(lambda: configs.get(name).build(nnx.Rngs(0)))
    assert elm.count_params(model) == expected


def test_released_config_equals_the_released_model(pretrained_dir):
    released = elm.load_released(pretrained_dir / "num_memory_20")
    assert configs.get("neuronio/branch-elm/released").elm_config() == released.config.replace(
        tau_m_bounds=None)


def test_scales_shrink_training_only():
    paper = configs.get("neuronio/branch-elm/paper")
    demo = configs.get("neuronio/branch-elm/paper", scale="demo")
    smoke = configs.get("neuronio/branch-elm/paper", scale="smoke")
    assert demo.model_args == paper.model_args == smoke.model_args
    assert smoke.train.steps < demo.train.steps < paper.train.steps == 30 * 11_400
    assert (paper.scale, demo.scale, smoke.scale) == ("paper", "demo", "smoke")
    with pytest.raises(ValueError, match="scale"):
        configs.get("shd/elm/paper", scale="huge")
    with pytest.raises(KeyError, match="known"):
        configs.get("neuronio/transformer/paper")


def test_the_study_scale_sits_between_demo_and_paper_per_family():
    """The snapshot's scale: more steps than the demo, fewer than the paper, set per dataset
    family (configs.STUDY), and the whole evaluation set for NeuronIO and SHD."""
    for name, family in [("neuronio/elm/paper", "neuronio"), ("shd-adding/lstm/paper", "shd"),
                         ("lra/listops/elm/paper", "lra")]:
        demo, study, paper = (configs.get(name, scale=s) for s in ("demo", "study", "paper"))
        assert study.model_args == paper.model_args and study.scale == "study"
        assert demo.train.steps < study.train.steps < paper.train.steps, name
        assert study.train.batches_per_epoch == configs.STUDY[family][1]
        assert study.train.batch_size == min(paper.train.batch_size, configs.STUDY[family][2])
    assert configs.get("neuronio/elm/paper", scale="study").evaluation == {"test_files": None}
    assert configs.get("shd/elm/paper", scale="study").evaluation["test"] is None
