"""Interop tests: bgpevpn's Speaker against real FRR 8.4 and GoBGP 3.10.

Each test builds its own pair of network namespaces joined by a veth
(netns.py), runs the daemon in one (frr.py, gobgp.py) and our Speaker in the
other (agent.py, driven through agentctl.py), and tears everything down in
a finalizer.  Needs root, ``ip netns``, and the Debian packages ``frr``,
``gobgpd``, ``iproute2``; otherwise the tests skip (or fail, with
``BGPEVPN_INTEROP_REQUIRED=1``).  ``BGPEVPN_INTEROP_PCAP=1`` also captures
the BGP traffic (tcpdump or dumpcap) into each test's tmp_path.
"""
