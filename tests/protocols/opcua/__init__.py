"""Tests of the OPC UA analyzer's compiled tier (a package: test basenames repeat per protocol)."""
