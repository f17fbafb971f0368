"""Asset inventory: devices, their identity with evidence, roles, Purdue levels and the communication map.

A consumer of events, flows and address sightings; it never reaches into protocol analyzers.
"""
