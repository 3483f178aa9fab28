"""Kubernetes' Deployment controller: ReplicaSets per pod template, rolling and recreate rollouts."""

from tasks.controllers.deployment.sync import DeploymentController

__all__ = ["DeploymentController"]
