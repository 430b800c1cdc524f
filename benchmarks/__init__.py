"""Benchmarks: scripts that print side-by-side tables (run them as `python benchmarks/NAME.py`).

A regular package so `from benchmarks import ...` finds these, not the top-level `benchmarks`
package that opacus installs into site-packages.
"""
