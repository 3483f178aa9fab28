"""A multi-host kubeq cluster on one Linux machine, hosts made of network namespaces (root only).

``up(hosts, directory)`` -> ``Cluster``; ``down(directory)``; ``cut(i)`` / ``heal(i)`` take host
``i`` off the network and back. ``python -m ops.hosts up --hosts K [--dir D]`` / ``down [--dir D]`` /
``cut I`` / ``heal I`` are the commands. See ``harness.py`` (what runs where) and ``network.py``
(the addresses and links).
"""

from ops.hosts.harness import DEFAULT_DIR, Cluster, cut, down, heal, ready_nodes, up

__all__ = ["DEFAULT_DIR", "Cluster", "cut", "down", "heal", "ready_nodes", "up"]
