"""``maga_corpus_refresh``: reformulate a whole corpus incrementally, one shard per task.

discover -> per shard: gate input -> reformulate (GA-SLM pairs, reformulation SLM
rewrites, chunked and resumable) -> clean -> validate (GE suites, judged sample, gate)
-> publish (Parquet shards, processed-shards manifest, dataset card, Asset event).

Every step is a plain function of the run context and one shard; ``pipeline.py`` runs
them in order and ``dags/maga_corpus_refresh.py`` makes each a (mapped) Airflow task.
"""
