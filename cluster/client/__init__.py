"""The client every kubeq component uses to read, write and watch the API."""

from cluster.client.client import PATCH_TYPES, Client, client_for, error_from_status

__all__ = ["PATCH_TYPES", "Client", "client_for", "error_from_status"]
