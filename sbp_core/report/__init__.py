"""Tables and figures from finished run folders.

`collect` turns run folders into two tidy tables (one row per run, one row per run and epoch);
`tables` and `figures` read only those tables, so every number traces back to a run folder.
"""

SWEEP_SEPARATOR = ";"
"""Joins the names of the sweeps a run belongs to in the `sweeps` column."""

ACCURACY = "final_test_acc"
"""The accuracy every table and figure leads with: test accuracy after the last epoch."""
