"""The declared tuning protocol (docs/tuning_protocol.md): each method's search space (space), its
quasi-random trials (trials), the tuning plan of a profile (plan), the choice on validation
(select), the statistics of the final runs (stats), their tables and figures (report), and the
runs a costed comparison takes once a profile is tuned (final_runs)."""
