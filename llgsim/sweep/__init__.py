"""Sweeps: many independent runs (seeds, parameters) of one base config on a Dask cluster.

schema (sweep file -> points), manifest (the CSV record of the points' states, read by the
analysis of a sweep) and execute (the points as Dask tasks). docs/sweeps.md is the guide.
"""
