"""Experiments of the muzero plugin: see README.md beside this file."""
