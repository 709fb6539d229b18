"""Reporting: the official metrics (value + inputs) and exports of stored data."""
