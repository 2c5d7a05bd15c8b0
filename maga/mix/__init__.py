"""Training-mix export: what the expanded corpus is for.

:mod:`maga.mix.plan` turns token counts into sampling weights for MAGA-Mix and the
repetition and upsampling baselines; :mod:`maga.mix.export` writes them next to the
published corpus; :func:`maga.mix.load.load_mix` loads one as a Hugging Face
``datasets`` stream in one call.
"""

from maga.mix.load import load_mix

__all__ = ["load_mix"]
