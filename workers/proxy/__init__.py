"""The node side of kube-proxy: the Service watch, the userspace forwarder daemon and its client."""
