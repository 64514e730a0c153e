"""The error type for bad user input (files, checkpoints, NIR graphs, networks that do not fit).
Command-line fronts print it as one line and exit non-zero."""


class InputError(ValueError):
    """A file, network or argument the pipeline cannot use."""
