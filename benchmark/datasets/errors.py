"""Errors raised while locating datasets and reading samples."""

from __future__ import annotations


class DatasetNotFoundError(FileNotFoundError):
    """A dataset (or its split file) could not be found; the message says where we looked."""

    def __str__(self) -> str:
        return str(self.args[0])


class SampleError(ValueError):
    """One image/mask pair cannot be used (unreadable, missing, mismatched); names the files."""


class SplitFileError(DatasetNotFoundError):
    """A split file exists but cannot be used (unreadable, empty, repeated ids); names the file and line."""
