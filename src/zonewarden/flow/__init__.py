"""Flows: the flow table, TCP stream reassembly, timeouts and memory caps."""
