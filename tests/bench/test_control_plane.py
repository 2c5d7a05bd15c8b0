"""The control-plane simulation on a small manifest, and the corpus sizing arithmetic."""

import pytest

from maga.bench import control_plane as cp


@pytest.mark.timeout(120)
def test_simulation_runs_every_operation_through_the_real_manifest_code():
    f = cp.simulate(shards=300, per_run=20)
    assert f["discover"]["new"] == 20
    assert f["publish"]["shards_after"] == 320
    assert f["export_mix"]["components"] == 3  # real, real_expanded, synthetic
    assert f["compact"]["shards"] == 320
    assert f["manifest_bytes_after"] > f["manifest_bytes"] > 300 * 500  # sized like real entries
    assert all(f[op]["peak_mib"] > 0 and f[op]["seconds"] >= 0 for op in cp.OPS)
    assert "| publish" in cp.render(f)
    with pytest.raises(ValueError):
        cp.simulate(shards=0)


@pytest.mark.timeout(10)
def test_sizing_of_the_papers_corpus():
    z = cp.sizing(195e9, 8e6, 15_000, 770 / 195, max_map=1024, workers=64)
    assert z["shards"] == 24_375 and z["runs"] == 24
    assert z["output_tokens"] == pytest.approx(770e9)
    assert z["engine_hours"] == round(770e9 / 15_000 / 3600)
    assert "| 9,200 (FinePhrase) | 24,375 | 24 |" in cp.render_sizing(195e9, 8e6, 770 / 195, 64)
