"""Measure an embedder on a retrieval task (`vitrine evaluate`): metrics, ranking, contact sheets."""
