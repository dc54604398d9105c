"""The cost demo: it runs, its charts parse, and the memory it reports behaves as the story says (T^2 against T)."""
import math
import xml.etree.ElementTree as ElementTree

import numpy as np

from demos import cost


def test_the_demo_runs_in_tiny_mode_and_draws_both_charts(tmp_path, capsys):
    results = cost.main(["--tiny", "--out", str(tmp_path)])
    for system in cost.SYSTEMS:
        for length in results["lengths"]:
            seconds, mebibytes = results[system][length]
            assert math.isfinite(seconds) and seconds > 0 and mebibytes > 0
    assert results["difference"] < 1e-12
    for name in ("cost.svg", "memory.svg"):
        root = ElementTree.parse(tmp_path / name).getroot()
        assert len(root.findall(".//{http://www.w3.org/2000/svg}path[@class='series']")) == len(cost.SYSTEMS)
    assert "fused" in cost.headline(results) and "T=64" in cost.headline(results)
    assert "unfused" in capsys.readouterr().out


def test_unfused_memory_grows_as_t_squared_and_fused_memory_as_t():
    rng = np.random.default_rng(0)
    unfused = [cost.measure("unfused", length, 1, rng)[1] for length in (2048, 4096)]
    fused = [cost.measure("fused", length, 1, rng)[1] for length in (2048, 4096)]
    # The unfused path keeps (T, T) float32 weights and their gradient: at least 2 * 4 * T^2 bytes, 128 MiB at
    # T = 4096; doubling T multiplies that by about 4. The fused kernel keeps O(T * D) and a few blocks of scores
    # (512 x 512): doubling T at most doubles it.
    assert unfused[1] > 128 and 3.0 < unfused[1] / unfused[0] < 5.0
    assert fused[1] < unfused[1] / 10 and fused[1] / fused[0] < 2.2
