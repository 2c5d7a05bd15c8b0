"""maga_mix_eval: does the expanded corpus help? Proxy training on every published mix.

prepare_run -> plan (the mix recipes ``export_mix`` wrote, read through ``load_mix``;
held-out real documents disjoint from the sources and the labeling sample, by id and
13-gram; the repetition baseline at 1x/2x/4x the real tokens; the fingerprint, so the
same mix with the same settings is not evaluated twice) -> train (mapped, one task per
arm: the same proxy LM trained from scratch at every seed) -> summarise (held-out loss
mean and spread per recipe, "no difference" inside the spread, the data-efficiency
multiplier, the optional gate, the report tab, the registry of evaluations).

Runs whenever the corpus refresh publishes training mixes (the ``maga_mix`` Asset) and
from the Trigger form. Thin on purpose: all logic lives in ``maga.mixeval``. The
training tasks go to the profile's model queue and pool (``MAGA_MODEL_QUEUE`` overrides).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import Asset, Param, TriggerRule, dag, task

from maga.config import load_config
from maga.deploy.routing import model_routing

ROUTING = model_routing()  # same rule as the other DAGs
PROFILE, MODEL_QUEUE, MODEL_POOL = ROUTING.profile, ROUTING.queue, ROUTING.pool
# A proxy trains with mix_eval.proxy.threads threads (1 on the CPU profiles): on a CPU
# pool it holds that many cores, so arms train side by side on the cores there are.
TRAIN_SLOTS = (
    1
    if ROUTING.on_gpu or MODEL_POOL == "default_pool"
    else min(ROUTING.slots, load_config(PROFILE).mix_eval.proxy.threads or ROUTING.slots)
)
# Same identity as in maga_corpus_refresh.py: its export_mix task emits this Asset's events.
MIX_ASSET = Asset(name="maga_mix", uri="maga://corpus/mixes")


@dag(
    dag_id="maga_mix_eval",
    schedule=MIX_ASSET,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["maga", "mix-eval"],
    default_args={"retries": 1, "retry_delay": timedelta(minutes=1)},
    params={
        "profile": Param(
            PROFILE,
            type="string",
            enum=["tiny", "demo", "gpu"],
            description="Configuration profile from configs/.",
        ),
        "output": Param(
            None,
            type=["null", "string"],
            description="Published corpus whose mixes to evaluate (folder or s3:// prefix). "
            "Empty: the triggering Asset event's, else the profile's refresh.output_uri.",
        ),
        "overrides": Param(
            None,
            type=["null", "array"],
            items={"type": "string"},
            description="Extra key=value config overrides, one per line (values read as "
            "YAML), e.g. mix_eval.seeds=[1,2,3] or mix_eval.gate.enabled=true. Empty: none.",
        ),
    },
    doc_md=__doc__,
)
def maga_mix_eval():
    @task(retries=0)
    def prepare_run(**context) -> str:
        from maga.pipelines.mix_eval import prepare_run as prepare

        return prepare(context["params"], context)

    @task
    def plan(run_uri: str, **context) -> list[str]:
        from maga.pipelines.mix_eval import plan_task

        return plan_task(run_uri, context)

    @task(queue=MODEL_QUEUE, pool=MODEL_POOL, pool_slots=TRAIN_SLOTS)
    def train(run_uri: str, arm: str, **context) -> dict:
        from maga.pipelines.mix_eval import train_task

        return train_task(run_uri, arm, context)

    # runs when plan found nothing to train (a rerun of an evaluated mix: no arms)
    @task(trigger_rule=TriggerRule.NONE_FAILED)
    def summarise(run_uri: str, **context) -> dict:
        from maga.pipelines.mix_eval import summarise_task

        return summarise_task(run_uri, context)

    run_uri = prepare_run()
    arms = plan(run_uri)
    trained = train.partial(run_uri=run_uri).expand(arm=arms)
    trained >> summarise(run_uri)


maga_mix_eval()
