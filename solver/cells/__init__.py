"""Discrete cancer cells: the population as arrays (population), where they are on the mesh
and how they walk across it (locate), room on the places of a lattice (room), their step of
moves and divisions (discrete), rank-independent random numbers (rng) and rows handed
between ranks (exchange).
"""
