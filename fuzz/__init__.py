"""Fuzz targets and their atheris runner (see targets.py and run.py)."""
