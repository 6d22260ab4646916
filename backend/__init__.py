"""Vitrine backend: catalog database, vector index, sync and the HTTP API."""
