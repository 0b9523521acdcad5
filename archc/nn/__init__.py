"""Torch modules that archc's ops lower to where torch has no module of their own (imports torch).

Each keeps the state_dict keys of torchvision's equivalent, so torchvision's weights load strictly.
"""
