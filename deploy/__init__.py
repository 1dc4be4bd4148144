"""Kubernetes deployment of the runner: the Job template and its reference renderer."""
