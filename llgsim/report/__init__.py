"""Reports on run files: the analysis of llgsim.analysis applied frame by frame to trajectories,
written as CSV tables, PNG figures, JSON summaries and movies (``llgsim analyze | plot |
movie``, docs/analysis.md). Imports the run layer (run files) and llgsim.analysis; nothing
below the command line imports it."""
