"""Tests for agentrun-runner."""
