"""L2-L4 decoding of frame batches (Ethernet, VLAN/QinQ, SLL/SLL2, NULL, raw IP, ARP, IPv4/6, TCP/UDP/ICMP)."""
