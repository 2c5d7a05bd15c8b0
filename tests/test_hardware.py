"""The engine precision chosen from the processor's features (``maga.hardware``),
with the features injected: the result must not depend on the machine the tests run on."""

from pathlib import Path

import pytest

from maga import hardware, throughput
from maga.hardware import flags_level, isa_level, resolve_dtype

pytestmark = pytest.mark.timeout(30)

ZEN2 = {"fma", "avx", "avx2", "f16c", "sse4_2"}  # AMD EPYC Zen 2: AVX2, no AVX-512
SKYLAKE_X = ZEN2 | {"avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd"}
COOPER_LAKE = SKYLAKE_X | {"avx512_bf16"}
SAPPHIRE_RAPIDS = COOPER_LAKE | {"amx_bf16", "amx_tile", "amx_int8", "avx512_fp16"}


@pytest.mark.parametrize(("flags", "level", "dtype"), [
    (ZEN2, "avx2", "float32"),
    (SKYLAKE_X, "avx512", "float32"),  # AVX-512 without BF16: still emulated
    (COOPER_LAKE, "avx512_bf16", "bfloat16"),
    (SAPPHIRE_RAPIDS, "amx", "bfloat16"),
    ({"sse4_2"}, "baseline", "float32"),
])  # fmt: skip
def test_auto_is_bf16_only_where_the_cpu_computes_it_natively(flags, level, dtype):
    assert flags_level(flags) == level
    p = resolve_dtype("auto", on_gpu=False, isa=isa_level(flags, env={}))
    assert p.dtype == dtype and p.requested == "auto" and level in p.reason


@pytest.mark.parametrize("explicit", ["bfloat16", "float32", "float16"])
def test_an_explicit_dtype_is_obeyed_as_written(explicit):
    for isa in ("avx2", "amx"):
        assert resolve_dtype(explicit, on_gpu=False, isa=isa).dtype == explicit
    assert resolve_dtype(explicit, on_gpu=True, isa="avx2").dtype == explicit


def test_gpu_auto_keeps_the_checkpoint_dtype():
    assert resolve_dtype("auto", on_gpu=True, isa="avx2").dtype == "auto"


@pytest.mark.parametrize(("env", "level"), [
    ({"ATEN_CPU_CAPABILITY": "avx2"}, "avx2"),
    ({"ONEDNN_MAX_CPU_ISA": "AVX2"}, "avx2"),
    ({"ONEDNN_MAX_CPU_ISA": "AVX512_CORE"}, "avx512"),
    ({"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_BF16"}, "avx512_bf16"),
    ({"ATEN_CPU_CAPABILITY": "avx512"}, "amx"),
    ({"ATEN_CPU_CAPABILITY": "default"}, "baseline"),
])  # fmt: skip
def test_dispatch_caps_lower_the_level_so_avx2_can_be_simulated(env, level):
    assert isa_level(SAPPHIRE_RAPIDS, env=env) == level
    assert isa_level(ZEN2, env=env) == ("baseline" if level == "baseline" else "avx2")


def test_this_machine_under_an_avx2_cap_resolves_float32(monkeypatch):
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "avx2")
    assert hardware.cpu().isa in ("avx2", "baseline")
    assert hardware.engine_precision("auto", on_gpu=False).dtype == "float32"


def test_the_throughput_key_names_the_isa_and_a_lowered_isa_gets_its_own(monkeypatch):
    full = throughput.hardware_id()
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "avx2")
    capped = throughput.hardware_id()
    assert capped.endswith(":avx2") and capped.startswith("cpu:")
    assert full == capped or not full.endswith(":avx2")


def test_a_measurement_in_another_precision_is_not_borrowed(tmp_path):
    root, hw = str(tmp_path), throughput.hardware()
    throughput.record({"hardware": hw, "model": "m", "precision": "bfloat16",
                       "tokens_per_s": 30.0}, root)  # fmt: skip
    assert throughput.last_entry(model="m", root=root, precision="float32") is None
    throughput.record({"hardware": hw, "model": "m", "precision": "float32",
                       "tokens_per_s": 150.0}, root)  # fmt: skip
    assert throughput.last_entry(model="m", root=root, precision="float32")["tokens_per_s"] == 150
    assert throughput.last_entry(model="m", root=root, precision="bfloat16")["tokens_per_s"] == 30


def test_doctor_names_the_isa_and_each_profiles_precision(monkeypatch, capsys):
    from maga.cli import main

    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "avx2")
    assert main(["doctor", "--no-bench"]) == 0
    out = capsys.readouterr().out
    assert "ISA        avx2 as engines dispatch (lowered by ATEN_CPU_CAPABILITY=avx2" in out
    assert "native bf16: no" in out
    assert "demo   students: float32" in out and "gpu    teacher: float32" in out
    assert throughput.hardware_id() in out


@pytest.mark.timeout(300)
def test_the_precision_bench_runs_int8_with_the_activations_auto_picks(tmp_path, monkeypatch):
    """doctor's INT8 row is the model quantized as the CPU profiles' students are, with
    float32 activations on AVX2 and bf16 on AMX; it is built once."""
    import json

    from maga.bench.precision import INT8, candidate_specs

    monkeypatch.setenv("MAGA_MODEL_CACHE", str(tmp_path))
    avx2 = candidate_specs("builtin:tiny-random", {}, ("float32", INT8), "avx2")
    assert avx2["float32"].engine == {"dtype": "float32"}
    assert avx2[INT8].engine == {"dtype": "float32"} and avx2[INT8].path != avx2["float32"].path
    cfg = json.loads((Path(avx2[INT8].path) / "config.json").read_text())
    assert "quantization_config" in cfg
    stamp = (Path(avx2[INT8].path) / "config.json").stat().st_mtime_ns
    amx = candidate_specs("builtin:tiny-random", {}, (INT8,), "amx")
    assert amx[INT8].engine == {"dtype": "bfloat16"} and amx[INT8].path == avx2[INT8].path
    assert (Path(amx[INT8].path) / "config.json").stat().st_mtime_ns == stamp  # not rebuilt


def test_doctor_advice_on_int8_and_on_a_faster_float():
    from maga.doctor import advice

    def fig(auto, **tps):
        return {"auto": auto, "tokens_per_s": {k.replace("int8", "int8-w8a8"): {"median": v}
                                               for k, v in tps.items()}}  # fmt: skip

    slow = advice(fig("float32", float32=150.0, bfloat16=31.0, int8=60.0), 0.1)
    assert len(slow) == 1 and "INT8 W8A8 ran slower than float32" in slow[0]
    ok = advice(fig("bfloat16", float32=85.0, bfloat16=126.0, int8=130.0), 0.1)
    assert len(ok) == 1 and "quantized students are served" in ok[0]
    wrong_auto = advice(fig("bfloat16", float32=150.0, bfloat16=31.0), 0.1)
    assert wrong_auto == ["float32 measured faster than auto's bfloat16 here; set engine.dtype: "
                          "float32 (and student_engine.dtype) to use it"]  # fmt: skip


def test_doctor_refuses_a_missing_model_and_zero_repeats_in_one_line(tmp_path, capsys):
    from maga.cli import main

    assert main(["doctor", "--model", str(tmp_path / "nope")]) == 4  # before any engine start
    err = capsys.readouterr().err
    assert f"maga: --model {tmp_path / 'nope'}: not a model folder (no config.json" in err
    assert "Traceback" not in err
    assert main(["doctor", "--model", "builtin:nope"]) == 4
    assert "unknown built-in model 'builtin:nope'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:
        main(["doctor", "--repeats", "0"])
    assert (
        stop.value.code == 2 and "argument --repeats: 0 is less than 1" in capsys.readouterr().err
    )
