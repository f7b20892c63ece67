"""glsgn core library: models, tiling, I/O, weights and training.

Importing this package is cheap; torch is imported by the submodules that need it.
"""

__version__ = "0.1.0"
