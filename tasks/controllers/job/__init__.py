"""Kubernetes' Job controller (``JobController``, registered as ``job``)."""

from tasks.controllers.job.controller import JobController

__all__ = ["JobController"]
