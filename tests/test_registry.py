from maga.config import load_config
from maga.registry.stage import choose_version, registry_uri
from maga.runs.context import RunContext
from maga.storage import join_uri


def ctx_for(tmp_path, run_id):
    return RunContext.create(load_config("tiny", [f"storage.root={tmp_path}"]), "d", run_id)


def test_versions_increase_and_a_rerun_reuses_its_own(tmp_path):
    a, b = ctx_for(tmp_path, "a"), ctx_for(tmp_path, "b")
    assert choose_version(a) == 1
    a.storage.write_json(
        join_uri(registry_uri(a), "v0001", "manifest.json"), {"run_uri": a.run_uri}
    )
    assert choose_version(a) == 1
    assert choose_version(b) == 2
    b.storage.write_json(
        join_uri(registry_uri(b), "v0002", "manifest.json"), {"run_uri": b.run_uri}
    )
    assert choose_version(ctx_for(tmp_path, "c")) == 3
