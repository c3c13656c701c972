"""The declared tuning protocol (docs/tuning_protocol.md): each method's search space (space), its
quasi-random trials (trials), the tuning plan of a profile (plan), the choice on validation
(select), the statistics of the final runs (stats) and their tables and figures (report)."""
