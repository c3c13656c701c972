"""sbp-bench: sign backpropagation on simulated RRAM crossbars and its baselines."""

__version__ = "0.1.0"
