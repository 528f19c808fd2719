"""What a lesson runs but need not show: its display helpers, long tables and claim bookkeeping (one module per lesson)."""
