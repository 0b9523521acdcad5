"""Torch modules that archc's ops lower to where torch has no module of their own.

Each keeps the state_dict keys of torchvision's equivalent, so torchvision's weights
load strictly. `archc build --emit python` copies the definitions a model uses into the
file it writes (archc/emit/inline.py), so these modules import only torch and are
written as `ruff format` lays them out with its defaults (88 columns).
"""
