"""Protocol analyzers: one package per protocol, each with wire.py, analyzer.py and codes.py."""
