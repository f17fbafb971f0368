"""The plant simulator: a deterministic capture of a converged IT/OT site, labelled attacks, and the truth.

Everything here writes protocol bytes with its own encoders (``frames``, ``enc_*``) and never imports the
decoders or analyzers it is meant to test; tshark referees both. Layout: ``site`` (the YAML site model and its
validation), ``physics`` (the process behind the controllers), ``link``/``tcp`` (addressing, ARP, routing,
TCP timing), ``drivers_*`` (masters, clients and background traffic), ``attacks*`` (scenarios), ``engine``
(time-ordered streaming to pcap/pcapng) and ``truth``. Entry points: ``zonewarden simulate`` and
``python -m zonewarden.simulate``.
"""
