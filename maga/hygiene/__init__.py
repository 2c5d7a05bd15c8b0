"""Corpus hygiene for the corpus refresh, one module per step, none importing Airflow.

* :mod:`.language`: language ID of sources and rewrites (``language_mismatch``);
* :mod:`.neardup`: MinHash-LSH near-duplicates across shards and runs
  (``near_duplicate_corpus``, ``source_near_duplicate``);
* :mod:`.decontam`: n-gram overlap with evaluation sets (``contaminated``,
  ``source_contaminated``);
* :mod:`.pii`: placeholders for e-mail addresses, IPs, phone and card numbers
  (rewrites changed, counted by kind);
* :mod:`.costplan`: tokens and worker-hours a run will cost, before it runs;
* :mod:`.shard`: how the clean step applies them to one shard.
"""
