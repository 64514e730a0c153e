"""The error type for bad user input (arguments, files, checkpoints, NIR graphs, networks that do not fit).
Command-line fronts print it as one line "error: ..." on stderr and exit with status 2 (`ltcsn.args.cli`)."""


class InputError(ValueError):
    """A file, network or argument the pipeline cannot use."""
