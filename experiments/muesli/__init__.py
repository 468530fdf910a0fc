"""Experiments of the muesli plugin: see README.md beside this file."""
