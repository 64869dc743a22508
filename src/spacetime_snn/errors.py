"""Errors a user can act on: each message names the file or key, what is wrong, and how to fix it."""


class SpacetimeError(Exception):
    """Base class of every error this package raises on purpose."""


class DataError(SpacetimeError):
    """A data file is missing, corrupt, truncated or inconsistent."""


class ConfigError(SpacetimeError):
    """A configuration key is unknown or has an invalid value."""


class DivergenceError(SpacetimeError):
    """Training produced a NaN or infinite loss or gradient."""


class CheckpointError(SpacetimeError):
    """A checkpoint cannot be read or does not match the run."""


class DiskFullError(SpacetimeError):
    """A file cannot be written because its file system is full (or over quota)."""


class RunLockedError(SpacetimeError):
    """A run directory is being written by another process (or its lock cannot be judged stale from here)."""


class UnwritableError(SpacetimeError):
    """A file or folder cannot be created: a read-only file system or no permission."""
