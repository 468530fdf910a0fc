"""Network building blocks several plugins share (registered nowhere)."""
