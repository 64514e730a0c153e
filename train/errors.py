"""The error type for bad user input; its one home is `ltcsn.errors` (the package root, below every stage)."""
from ltcsn.errors import InputError

__all__ = ["InputError"]
