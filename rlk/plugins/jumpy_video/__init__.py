"""JUMP: consistent jumpy predictions for videos and scenes (Kumar et al. 2019)."""
