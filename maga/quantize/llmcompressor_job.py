"""Quantize one model with llm-compressor, in an interpreter of its own.

llm-compressor pins compressed-tensors and transformers versions that differ from the
ones vLLM pins, so it cannot live in the serving environment. This module imports only
the standard library at load time and llm-compressor/transformers inside
:func:`run_job`, so it runs in a separate virtualenv (``MAGA_QUANTIZER_PYTHON``, or
Airflow's ``@task.external_python`` / ``@task.virtualenv`` calling :func:`run_job`)::

    python -m maga.quantize.llmcompressor_job --src MODEL --dst OUT --scheme FP8_DYNAMIC

Both schemes are data-free (dynamic activations), so no calibration set is needed.
"""

from __future__ import annotations

import argparse
import logging
import sys

SCHEMES = ("FP8_DYNAMIC", "W8A8")
log = logging.getLogger("maga.quantize.job")


def run_job(src: str, dst: str, scheme: str = "FP8_DYNAMIC", ignore: tuple[str, ...] = ()) -> None:
    """One-shot quantize every Linear but ``lm_head`` (and ``ignore``); save compressed."""
    if scheme not in SCHEMES:
        raise ValueError(f"unknown llm-compressor scheme {scheme!r} (known: {SCHEMES})")
    from llmcompressor import oneshot
    from llmcompressor.modifiers.quantization import QuantizationModifier
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(src, dtype="auto")
    recipe = QuantizationModifier(targets="Linear", scheme=scheme, ignore=["lm_head", *ignore])
    oneshot(model=model, recipe=recipe)
    model.save_pretrained(dst, save_compressed=True)
    try:
        AutoTokenizer.from_pretrained(src).save_pretrained(dst)
    except (OSError, ValueError) as exc:  # the caller copies tokenizer files too
        log.warning("tokenizer not saved: %s", exc)
    log.info("wrote %s (%s) to %s", src, scheme, dst)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", required=True, help="HF model folder to quantize")
    parser.add_argument("--dst", required=True, help="folder to write the checkpoint into")
    parser.add_argument("--scheme", default="FP8_DYNAMIC", choices=SCHEMES)
    parser.add_argument("--ignore", action="append", default=[], help="extra modules to skip")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    run_job(args.src, args.dst, args.scheme, tuple(args.ignore))
    return 0


if __name__ == "__main__":
    sys.exit(main())
