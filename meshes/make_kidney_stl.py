"""Writes meshes/kidney.stl: a closed, bean-shaped surface (an ellipsoid with the hilum
scooped out) used as the example user organ (kind = "stl"). Units: case length units
(0.4 x 0.25 x 0.2, i.e. 0.8 x 0.5 x 0.4 mm with L = 0.2 cm). Run: python meshes/make_kidney_stl.py
"""

from pathlib import Path

import gmsh

gmsh.initialize(readConfigFiles=False, interruptible=False)
gmsh.option.setNumber("General.Terminal", 0)
gmsh.option.setNumber("General.NumThreads", 1)
gmsh.model.add("kidney")
occ = gmsh.model.occ
body = occ.addSphere(0.2, 0.125, 0.1, 1.0)
occ.dilate([(3, body)], 0.2, 0.125, 0.1, 0.2, 0.125, 0.1)
hilum = occ.addSphere(0.2, 0.27, 0.1, 0.07)
occ.cut([(3, body)], [(3, hilum)])
occ.synchronize()
gmsh.option.setNumber("Mesh.MeshSizeMax", 0.02)
gmsh.option.setNumber("Mesh.MeshSizeMin", 0.02)
gmsh.option.setNumber("Mesh.Binary", 1)
gmsh.model.mesh.generate(2)
gmsh.write(str(Path(__file__).with_name("kidney.stl")))
gmsh.finalize()
