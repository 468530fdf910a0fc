"""Experiments of the jumpy_video plugin: see README.md beside this file."""
