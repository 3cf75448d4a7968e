"""Errors raised by the students package."""


class StudentError(Exception):
    """Base class for student errors."""


class CheckpointError(StudentError):
    """A student checkpoint is missing, corrupt, or of another architecture."""
