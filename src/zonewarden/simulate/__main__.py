"""``python -m zonewarden.simulate``: the same as ``zonewarden simulate``."""

from zonewarden.cli.simulate import simulate

simulate(prog_name="python -m zonewarden.simulate")
