"""The reference EVPN/VXLAN fabric (3 FRR VTEPs, hosts, bgpevpn rr and FRR as
route reflectors) built in network namespaces; see topology.py."""
