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
