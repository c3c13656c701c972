"""The one exception family users see: each message is one line naming the file or key at fault."""


class SbpBenchError(Exception):
    """Base class; the command line prints these as one line instead of a traceback."""


class DataError(SbpBenchError):
    """A dataset file is missing, corrupt, truncated or inconsistent."""


class ConfigError(SbpBenchError):
    """A spec, config key or command-line value is invalid."""
