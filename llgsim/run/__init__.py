"""The run layer: config schema (tables, schema, provider registry), one build path (build),
the driving loop (driver), run files (runfile, recorders) and running a config (launch)."""
