"""Tests of the S7comm analyzer's compiled tier (a package: test basenames repeat per protocol)."""
