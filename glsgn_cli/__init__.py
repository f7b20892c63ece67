"""The ``glsgn`` command line: a thin Typer layer over :mod:`glsgn_core`.

Command modules import torch and the core inside their function bodies so that ``glsgn --help``
answers instantly.
"""
