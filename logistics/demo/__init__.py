"""The demo county: generate it, export it as a bureau would, run the whole day."""
