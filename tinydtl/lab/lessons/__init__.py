"""What a lesson keeps out of its notebook: display helpers, claim-recording blocks and bookkeeping.

One module per lesson (``l07_adaptive_tau`` for ``notebooks/07_adaptive_tau.ipynb``), so that the
notebook shows the idea, the from-scratch code, the package at scale, a figure and what to notice, and
the reproduction's bookkeeping (tables, claims with their sources and noise bands) sits here, tested.
"""
