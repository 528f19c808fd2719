"""tinydtl."""
