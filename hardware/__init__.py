"""Lava backend: NIR -> Lava processes, run configurations, resource report."""
