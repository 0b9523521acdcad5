"""Emitters that need torch: the built nn.Module and standalone Python source.

Import `archc` stays torch-free: `archc.build` and friends import this lazily.
"""
