"""Mix evaluation: does the expanded corpus help? (the ``maga_mix_eval`` DAG).

For every training mix the corpus refresh's ``export_mix`` wrote (MAGA-Mix, repetition,
upsampling), a proxy language model is trained from scratch with the same architecture,
tokenizer, token budget, optimiser, schedule and seeds, and scored by its loss on
held-out real documents that neither the sources nor the labeling sample contained.

* :mod:`maga.mixeval.plan`: recipes, held-out set, baseline curve, fingerprint, skip;
* :mod:`maga.mixeval.heldout`: held-out and extra real documents, disjointness proof;
* :mod:`maga.mixeval.data`: mix rows (via :func:`maga.mix.load_mix`) to token windows;
* :mod:`maga.mixeval.proxy`: the proxy LM, its training and its held-out loss;
* :mod:`maga.mixeval.train`: one arm at every seed (a stage per arm);
* :mod:`maga.mixeval.results`: mean and spread, verdicts, data efficiency, the gate;
* :mod:`maga.mixeval.summarise`, :mod:`maga.mixeval.report`: results, report, registry;
* :mod:`maga.mixeval.pipeline`: the steps in order, without Airflow.
"""
