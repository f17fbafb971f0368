"""zonewarden: passive security monitoring for converged IT/OT networks."""

__version__ = "0.1.0"
