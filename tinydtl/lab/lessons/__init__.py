"""Per-lesson helpers: figures, experiment bookkeeping and claims that would crowd a notebook."""
