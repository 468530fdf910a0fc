"""Experiments of the bwlc_codec plugin: see README.md beside this file."""
