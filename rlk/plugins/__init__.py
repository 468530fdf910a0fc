"""Built-in plugins; each subpackage is an entry point of the group ``rlk``."""
