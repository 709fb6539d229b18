"""Demand: which points are due on a day, how much they hold (forecast), and a
simulated day of collection."""
