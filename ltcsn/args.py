"""Command-line checking shared by every CLI: argparse types for numbers in ranges, a parser whose errors are one
line, and `cli`, which turns bad input and Ctrl-C into one line on stderr.

    p = ArgumentParser(description="...")
    p.add_argument("--samples", type=int_range(1), default=8)
    p.add_argument("--lr", type=float_range(0, lo_open=True), default=3e-3)

Bad input: "error: argument --samples: must be an integer >= 1, got '0'" on stderr, exit status 2, no usage block.
"""
import argparse
import functools
import importlib
import math
import sys
import warnings

from ltcsn.errors import InputError

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130     # 128 + SIGINT, as shells report it


def one_line(e) -> str:
    """An exception's message on one line (whitespace runs collapsed)."""
    return " ".join(str(e).split())


class ArgumentParser(argparse.ArgumentParser):
    """argparse.ArgumentParser whose errors are one line "error: ..." on stderr and exit status 2."""

    def error(self, message):
        sys.stderr.write(f"error: {one_line(message)}\n")
        sys.exit(EXIT_BAD_INPUT)


def _bounds_text(lo, hi, lo_open: bool, hi_open: bool) -> str:
    def bound(op: str, v) -> str:
        return f"{op} {v:g}" if isinstance(v, float) else f"{op} {v}"
    parts = []
    if lo is not None:
        parts.append(bound(">" if lo_open else ">=", lo))
    if hi is not None:
        parts.append(bound("<" if hi_open else "<=", hi))
    return " and ".join(parts)


def _in_range(v, lo, hi, lo_open: bool, hi_open: bool) -> bool:
    if lo is not None and (v <= lo if lo_open else v < lo):
        return False
    if hi is not None and (v >= hi if hi_open else v > hi):
        return False
    return True


def int_range(lo=None, hi=None):
    """argparse type: an integer in [lo, hi] (None: unbounded on that side)."""
    want = "an integer" + (" " + _bounds_text(lo, hi, False, False) if lo is not None or hi is not None else "")

    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {want}, got {text!r}") from None
        if not _in_range(v, lo, hi, False, False):
            raise argparse.ArgumentTypeError(f"must be {want}, got {text!r}")
        return v
    parse.__name__ = want
    return parse


def float_range(lo=None, hi=None, lo_open: bool = False, hi_open: bool = False):
    """argparse type: a finite float in the range from lo to hi (open or closed at each end; None: unbounded).
    NaN and +-Inf are refused always."""
    bounds = _bounds_text(None if lo is None else float(lo), None if hi is None else float(hi), lo_open, hi_open)
    want = "a finite number" + (" " + bounds if bounds else "")

    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {want}, got {text!r}") from None
        if not math.isfinite(v) or not _in_range(v, lo, hi, lo_open, hi_open):
            raise argparse.ArgumentTypeError(f"must be {want}, got {text!r}")
        return v
    parse.__name__ = want
    return parse


def int_list(lo: int = 1, sep: str = ","):
    """argparse type: comma-separated integers, each >= lo, at least one (e.g. --hidden 256,256)."""
    want = f"comma-separated integers >= {lo}"

    def parse(text: str) -> list:
        try:
            values = [int(v) for v in text.split(sep) if v.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {want}, got {text!r}") from None
        if not values or min(values) < lo:
            raise argparse.ArgumentTypeError(f"must be {want}, got {text!r}")
        return values
    parse.__name__ = want
    return parse


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    print(f"warning: {one_line(message)}", file=sys.stderr if file is None else file)


def cli(main):
    """Decorate a CLI's main(argv) -> int: an InputError becomes "error: ..." (one line, exit 2), a warning one line
    "warning: ..." on stderr, and Ctrl-C (SIGINT) one line "interrupted" (exit 130) instead of a traceback. Outputs are
    written atomically (`ltcsn.files`), so an interrupted command leaves no half-written file behind."""
    @functools.wraps(main)
    def wrapper(argv=None) -> int:
        try:
            with warnings.catch_warnings():
                warnings.showwarning = _one_line_warning
                return main(argv)
        except InputError as e:
            print(f"error: {one_line(e)}", file=sys.stderr)
            return EXIT_BAD_INPUT
        except (KeyboardInterrupt, ImportError) as e:
            return _interrupted(e)
    return wrapper


def _caused_by_interrupt(e: BaseException) -> bool:
    """Whether e is a KeyboardInterrupt or has one in its cause / context chain: a Ctrl-C that lands while a compiled
    extension initialises (a lazy `import matplotlib` inside main) surfaces as "ImportError: initialization failed"."""
    seen = set()
    while e is not None and id(e) not in seen:
        if isinstance(e, KeyboardInterrupt):
            return True
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return False


def _interrupted(e: BaseException) -> int:
    """The one line and exit 130 of a Ctrl-C (`_caused_by_interrupt`); any other exception is raised again."""
    if not _caused_by_interrupt(e):
        raise e
    print("interrupted (SIGINT): stopped; every file written so far is complete, none is half-written",
          file=sys.stderr)
    return EXIT_INTERRUPTED


def launch(module: str, argv=None) -> int:
    """Import the command module `module` and run its main(argv) (a `cli`): a Ctrl-C while its imports load
    (torch takes a second or more) ends with the same one line and exit 130 as one inside main. The console
    scripts (`ltcsn.commands`) and the `python <folder>/<file>.py` forms start here."""
    try:
        main = importlib.import_module(module).main
    except (KeyboardInterrupt, ImportError) as e:
        return _interrupted(e)
    return main(argv)
