"""The throughput record a cost plan reads: entries keyed by hardware, newest wins."""

import pytest

from maga import throughput
from maga.bench.refresh import spread

CPU = {"cpu_model": "Test CPU", "cpu_cores": 2, "gpu": None, "gpu_count": 0}
H100 = {"cpu_model": "Test CPU", "cpu_cores": 16, "gpu": "NVIDIA H100", "gpu_count": 1}


@pytest.mark.timeout(30)
def test_last_measured_is_newest_for_that_hardware_and_model(tmp_path):
    root = str(tmp_path)
    assert throughput.last_measured(CPU, root=root) is None
    throughput.record({"hardware": CPU, "model": "a", "tokens_per_s": 100.0}, root)
    throughput.record({"hardware": H100, "model": "a", "tokens_per_s": 9000}, root)
    throughput.record({"hardware": CPU, "model": "b", "tokens_per_s": 50.5}, root)
    assert throughput.last_measured(CPU, root=root) == 50.5
    assert throughput.last_measured(CPU, model="a", root=root) == 100.0
    assert throughput.last_measured("gpu:NVIDIA H100x1", root=root) == 9000.0
    assert throughput.last_measured(CPU, model="c", root=root) is None
    assert throughput.last_measured({**CPU, "cpu_cores": 4}, root=root) is None
    assert len(list((tmp_path / "throughput").glob("*/*.json"))) == 3  # one file each


@pytest.mark.timeout(30)
def test_this_machine_has_an_id_and_bad_entries_are_refused(tmp_path):
    hw = throughput.hardware()
    assert hw["cpu_cores"] >= 1 and hw["cpu_model"]
    assert throughput.hardware_id(hw).startswith("cpu:")
    with pytest.raises(ValueError, match="tokens_per_s"):
        throughput.record({"hardware": hw, "tokens_per_s": "fast"}, str(tmp_path))
    assert throughput.entries(str(tmp_path)) == []


@pytest.mark.timeout(10)
def test_spread_is_median_min_max():
    assert spread([1.0, 0.9, 1.2]) == {"median": 1.0, "min": 0.9, "max": 1.2, "n": 3}
    with pytest.raises(ValueError):
        spread([])
