"""Tests of the Modbus compiled tier."""
