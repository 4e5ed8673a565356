"""Test beds: synthetic and real-stack traffic that exercises cranewatch end to end."""
