"""python -m embedder.training: the same as `vitrine train`."""

from embedder.training.main import main

main()
