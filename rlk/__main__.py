"""The ``rlk`` command (and ``python -m rlk``): signal handling first, then the CLI.

Installed before anything else is imported, so a Ctrl-C while the CLI's modules load is one line and
exit 130 like one at any later moment (``rlk.core.interrupts``), not a ``KeyboardInterrupt`` traceback.
"""

from rlk.core import interrupts


def main() -> None:
    interrupts.install()
    from rlk.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
