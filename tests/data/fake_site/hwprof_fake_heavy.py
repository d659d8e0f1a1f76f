"""Stands in for a heavy library (torch, boto3): tests check when it gets imported."""

ANSWER = 42
