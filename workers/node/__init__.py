"""The node agent: this host as a Kubernetes node (runtime daemon, Node + Lease, ``kubelet@<name>`` worker).

``run_node(settings, name, data_dir, isolation, max_pods, port)`` is the entry point; ``kubeq node``
and ``python -m workers.node`` its commands.
"""

from workers.node.agent import NodeAgent, run_node

__all__ = ["NodeAgent", "run_node"]
