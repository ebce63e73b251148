"""The fields of an organ on its P1 mesh: each field's equation stated once (equations),
the registry of fields with symbols and units (registry), the implicit reaction-diffusion
solver (reaction_diffusion), the ECM and other pointwise fields (ecm), continuum cancer
cells by FEM-FCT (continuum), and the soil of oxygen, VEGF and the niche (soil).
"""
