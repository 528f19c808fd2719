"""Per-lesson helpers: the display code, long tables and claim bookkeeping a lesson keeps out of its cells.

One module per lesson (``l05_bilayer`` for ``notebooks/05_bilayer_gossip.ipynb``); a lesson imports
what it shows, so its notebook stays the idea, the algorithm, the run and what to notice.
"""
