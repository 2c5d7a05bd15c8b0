"""Embedding overlap maths on hand-made vectors, the projections, and the real MiniLM."""

from __future__ import annotations

import numpy as np
import pytest

from maga.report.embeddings import coverage, embed, model_dir, overlap, pca_2d, project, tsne_2d


def unit(*rows: list[float]) -> np.ndarray:
    x = np.array(rows, dtype=float)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_nearest_neighbour_similarity_each_way_and_shift() -> None:
    source = unit([1, 0, 0], [0, 1, 0])
    synth = unit([1, 0, 0], [1, 0, 0], [0, 0, 1])
    ov = overlap(source, synth, pairs=[(0, 0), (2, 1)], k=1)
    # source->synth: best for [1,0,0] is 1, for [0,1,0] is 0  -> 0.5
    assert ov.source_to_synth == pytest.approx(0.5)
    # synth->source: 1, 1, 0 -> 2/3; shift = 1 - 2/3
    assert ov.synth_to_source == pytest.approx(2 / 3, abs=1e-6)
    assert ov.shift == pytest.approx(1 / 3, abs=1e-6)
    assert ov.paired == [1.0, 0.0]


def test_coverage_counts_sources_with_a_synthetic_point_in_their_knn_ball() -> None:
    source = unit([1, 0, 0], [0.9, 0.1, 0], [0, 1, 0], [0, 0.9, 0.1])
    near_first_cluster = unit([0.95, 0.05, 0])
    assert coverage(source, near_first_cluster, k=1) == 0.5
    both = unit([0.95, 0.05, 0], [0.05, 0.95, 0.02])
    assert coverage(source, both, k=1) == 1.0
    assert coverage(source[:1], both, k=1) is None


def test_projections_are_2d_and_repeatable() -> None:
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 1, (15, 8)), rng.normal(6, 1, (15, 8))])
    assert pca_2d(x).shape == (30, 2)
    a, b = tsne_2d(x, perplexity=5, iters=250), tsne_2d(x, perplexity=5, iters=250)
    assert a.shape == (30, 2) and np.allclose(a, b)
    # the two clusters stay apart: nearest cross-cluster distance beats the within spread
    within = np.linalg.norm(a[:15] - a[:15].mean(0), axis=1).mean()
    between = np.linalg.norm(a[:15].mean(0) - a[15:].mean(0))
    assert between > 2 * within
    assert project(x[:3], "tsne")[1] == "PCA"  # too few points for t-SNE


def test_minilm_embeds_paraphrases_closer_than_unrelated_text() -> None:
    assert (model_dir() / "model.safetensors").exists()
    vecs = embed(["The cat sat on the mat.", "A cat was sitting on a rug.",
                  "Quarterly revenue of the bank rose by four percent."])  # fmt: skip
    assert vecs.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    assert vecs[0] @ vecs[1] > 0.5 > vecs[0] @ vecs[2]
