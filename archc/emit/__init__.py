"""Emitters: the built nn.Module and standalone Python source (these need torch), and Graphviz diagrams
(`graphviz.py`: the graphviz package only, no torch).

Import `archc` stays torch-free: `archc.build`, `archc.graph` and friends import these lazily.
"""
