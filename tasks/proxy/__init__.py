"""kube-proxy: per-node reconcile of Service traffic rules (nftables or userspace forwarding)."""
