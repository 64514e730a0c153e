"""`python -m ltcsn --version` prints the installed version; `python -m ltcsn` lists the package's commands."""
import argparse
from importlib.metadata import PackageNotFoundError, distribution
import sys

import ltcsn
from ltcsn import commands
from ltcsn.args import ArgumentParser


def _commands() -> str:
    try:
        scripts = [e for e in distribution(ltcsn.DIST_NAME).entry_points if e.group == "console_scripts"]
    except PackageNotFoundError:  # a source tree that is not installed
        return "commands: install the package (pip install .) for its console scripts"
    width = max(len(e.name) for e in scripts)
    module = {e.name: getattr(commands, e.value.split(":")[1]).args[0] for e in scripts}   # ltcsn.train.run, ...
    return "commands (each takes -h):\n" + "\n".join(f"  {e.name:<{width}}  {module[e.name]}" for e in scripts)


def main(argv=None) -> int:
    p = ArgumentParser(prog="python -m ltcsn", description=ltcsn.__doc__.split("\n")[0], epilog=_commands(),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"{ltcsn.DIST_NAME} {ltcsn.__version__}")
    p.parse_args(argv)
    p.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
