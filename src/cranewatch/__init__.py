"""cranewatch: find hidden communication equipment in port cranes and prove or rule out its use.

The package follows the pipeline of docs/architecture.md: ``capture`` reads files, ``engine``
decodes packets into flows and assets in compiled kernels, ``observe`` declares the observation
tables, ``store`` keeps them in a workspace, and ``cli`` is the thin shell over all of it.
"""

from cranewatch._version import __version__

__all__ = ["__version__"]
