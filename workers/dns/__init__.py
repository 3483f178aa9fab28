"""Cluster DNS: answers ``<svc>.<ns>.svc.<domain>`` and friends from Services and EndpointSlices.

``python -m workers.dns --server URL`` runs it (see ``workers.dns.daemon``). The pieces:
``catalog`` (the in-memory Services and EndpointSlices), ``answer`` (a query -> a reply, pure),
``upstream`` (forwarding names outside the domain), ``selfreg`` (the kube-dns Service and this
replica's EndpointSlice), ``server`` (UDP and TCP listeners).
"""
