"""Overrides shared by the tests that set the demo case up many times (checkpoints, the
command line, ensembles, ParaView).

The demo's liver and lung (0.3 x 0.3) at h = 0.02 instead of 5e-3: 0.7 s less CPU per
set-up (of 3.1 s); what these tests check does not depend on the secondaries' mesh size.
"""

COARSE_SECONDARIES = (
    "secondary=["
    + ", ".join(
        f'{{name="{name}", geometry={{size=[0.3, 0.3], h=0.02, normal_vessels=0, '
        f"ruptured_vessels=6, vessel_min_distance=0.0, vessel_seed={seed}}}}}"
        for name, seed in (("liver", 1), ("lung", 2))
    )
    + "]"
)
