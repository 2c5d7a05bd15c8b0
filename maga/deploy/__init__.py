"""Helpers for running the pipeline as a multi-process Airflow deployment."""
