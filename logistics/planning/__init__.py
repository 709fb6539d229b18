"""Planning: translate the domain to the optimizer and back, plan a day, re-plan it,
reconcile it with what happened, and master routes."""
