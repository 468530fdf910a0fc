"""Experiments of the hindsight_value plugin: see README.md beside this file."""
