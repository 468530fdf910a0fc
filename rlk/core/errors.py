"""User-facing errors: the CLI prints their message on one line and exits non-zero."""


class RlkError(Exception):
    """A mistake in the user's input (config, flags, paths, plugin names); never a bug in rlk."""
