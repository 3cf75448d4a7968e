"""benchmarks/panel.py reuses a finished run only when its saved config is today's config -- including one saved by
an older xarchkd (transfer as a string, options removed since at their off values, options added since absent)."""
import sys
from pathlib import Path

from xarchkd.config import RunConfig, apply_overrides, to_toml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import panel  # noqa: E402


def _older(toml: str) -> str:
    """Today's TOML as a 2026-12-02 xarchkd wrote it."""
    assert 'transfer = [{"kind" = "augment", "path" = "", "weight" = 1.0}]' in toml
    out = toml.replace('transfer = [{"kind" = "augment", "path" = "", "weight" = 1.0}]', 'transfer = "augment"')
    out = out.replace("temperature = 2.0\n", "")                      # as if added since
    out = out.replace("[train]\n", "[train]\nema = 0.0\n")              # removed since, at its off value
    out = out.replace("[loss]\n", "[loss]\nconfidence = false\n")
    assert out != toml
    return out


def test_a_run_saved_by_an_older_xarchkd_with_the_same_settings_is_reused():
    now = to_toml(apply_overrides(RunConfig(), ["data.transfer=augment"]))
    assert panel.same_config(_older(now), now)
    assert not panel.same_config(_older(now), now.replace("temperature = 2.0", "temperature = 3.0"))
    used = _older(now).replace("ema = 0.0", "ema = 0.999")              # the old run used a removed option
    assert not panel.same_config(used, now)


def _row(seed, student, nokd, student_valid, nokd_valid):
    kd = {"teacher": {"name": "t", "f1": 0.8185, "valid_f1": 0.8202}, "train_rows": 21714, "train_seconds": 144.0,
          "student": {"f1": student, "valid_f1": student_valid, "params": 3195587}}
    twin = {"train_seconds": 80.0, "student": {"f1": nokd, "valid_f1": nokd_valid, "params": 3195587}}
    return {**panel.panel_row(f"ncbi-disease (seed {seed})", "bert-lstm-ner", kd, twin), "seed": seed}


def test_several_seeds_give_a_row_of_means_with_their_spread():
    # NCBI-disease, default recipe and twin, seeds 0-2 (benchmarks/panel_ncbi_seeds_h200.json)
    rows = [_row(0, 0.8350, 0.8232, 0.8428, 0.8414), _row(1, 0.8359, 0.8300, 0.8403, 0.8485),
            _row(2, 0.8363, 0.8373, 0.8420, 0.8391)]
    m = panel.seed_summary(rows)
    assert m["data"] == "ncbi-disease, mean of 3" and m["seeds"] == [0, 1, 2] and "seed" not in m
    assert abs(m["student_f1"] - 0.8357) < 1e-4 and abs(m["nokd_f1"] - 0.8302) < 1e-4
    assert abs(m["kd_gain"] - 0.5567) < 1e-3 and abs(m["kd_gain_valid"] + 0.13) < 1e-3
    assert abs(m["student_f1_sd"] - 0.00067) < 1e-5 and abs(m["nokd_f1_sd"] - 0.00705) < 1e-5
    assert abs(m["pct_of_teacher"] - 102.1) < 0.05
    table = panel.markdown(rows + [m])
    assert "| ncbi-disease, mean of 3 | 0.8185 | 0.8357 (sd 0.0007) | 102.1% | 0.8302 (sd 0.0071) | +0.56 (sd 0.64) / -0.13 | 3,195,587 |" in table
    assert table.count("\n") == 2 + 4 and "(sd" not in table.splitlines()[2]


def test_seeds_that_are_not_numbers_are_refused_before_any_run(tmp_path, capsys):
    import pytest
    with pytest.raises(SystemExit) as e:
        panel.main(["some/folder", "--out", str(tmp_path / "p.json"), "--seeds", "0,one"])
    assert e.value.code == 2 and "--seeds: comma-separated whole numbers, none twice, none below 0; got '0,one'" in capsys.readouterr().err
    assert not (tmp_path / "p.json").exists()


def test_the_seed_comes_from_seeds_alone(tmp_path, capsys):
    import pytest
    for bad in (["--seeds", "1,1"], ["--seeds", "-1"], ["--set", "train.seed=3"], ["--kd-set", "train.seed=3"]):
        with pytest.raises(SystemExit) as e:
            panel.main(["some/folder", "--out", str(tmp_path / "p.json"), *bad])
        assert e.value.code == 2 and ("--seeds" in capsys.readouterr().err)
    assert not (tmp_path / "p.json").exists()


def test_a_number_missing_from_one_seed_has_no_mean():
    rows = [_row(0, 0.8350, 0.8232, 0.8428, 0.8414), _row(1, 0.8359, 0.8300, 0.8403, 0.8485)]
    rows[1] = {**rows[1], "teacher_f1": None, "pct_of_teacher": None}      # e.g. a teacher folder with no recorded F1
    m = panel.seed_summary(rows)
    assert m["teacher_f1"] is None and m["pct_of_teacher"] is None and abs(m["student_f1"] - 0.83545) < 1e-6
    line = panel.markdown([m]).splitlines()[2]
    assert "| n/a | 0.8355 (sd 0.0006) | n/a | 0.8266 (sd 0.0048) |" in line


def test_the_panel_says_its_runs_and_their_time_before_any(tmp_path, conll_small, minilm_dir, capsys):
    import argparse
    args = argparse.Namespace(runs=str(tmp_path / "runs"), recipe="bert-lstm-ner", sets=[], kd_sets=[],
                              data=[str(conll_small)])
    minutes = []
    for done in ([], ["bert-lstm-ner-nokd-seed1"]):
        for name in done:                       # a finished run is reused, not counted
            (tmp_path / "runs" / conll_small.name / name).mkdir(parents=True)
            (tmp_path / "runs" / conll_small.name / name / "results.json").write_text("{}")
        panel.say_plan(args, [0, 1], "bert-lstm-ner-nokd", "")
        line = capsys.readouterr().out.strip()
        assert line.startswith(f"[panel] {4 - len(done)} run(s) to do, one at a time: ~"), line
        minutes.append(int(line.split("~")[1].split()[0]))
    assert minutes[0] >= minutes[1] >= 0


def test_a_bad_data_folder_stops_the_panel_before_any_run(tmp_path):
    import pytest
    with pytest.raises(SystemExit) as e:
        panel.main([str(tmp_path / "nowhere"), "--out", str(tmp_path / "p.json"), "--runs", str(tmp_path / "runs")])
    assert str(e.value).startswith("[panel] ") and "nowhere" in str(e.value) and "\n" not in str(e.value)
    assert not (tmp_path / "runs").exists() and not (tmp_path / "p.json").exists()
