"""Megadocs (arXiv 2603.18534): all generations of one source as one long document.

``stitch`` concatenates a source's rewrites (seeded order, original first or left out);
``stretch`` inserts generated rationales after the source's passages, leaving the
source text itself intact. Every output row records how it was made.
"""
