"""What a lesson keeps out of its notebook: display helpers, long tables, claim-recording blocks and the
reproduction's bookkeeping, one module per lesson (``tinydtl.lab.lessons.l08_rocknet`` ...)."""
