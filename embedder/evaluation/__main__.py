"""python -m embedder.evaluation: the same as `vitrine evaluate`."""

from embedder.evaluation.evaluate import main

raise SystemExit(main())
