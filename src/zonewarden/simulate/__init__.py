"""Independent packet and capture-file encoders for fixtures and the demo (never imports the decoders)."""
