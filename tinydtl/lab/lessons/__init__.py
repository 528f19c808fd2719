"""What a lesson needs beyond the package's algorithms: its comparisons, tables, figures and claim bookkeeping.

One module per lesson (``l09_globe2train`` ...), so that the notebook keeps the idea, the from-scratch
code, the run and what to notice, and a reader can still see every number's origin here.
"""
