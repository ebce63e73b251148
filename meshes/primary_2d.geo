// A small 2D user primary site: a lobed organ section with a tumour and two vessels.
// Physical groups follow the seedsoil contract (meshes/README.md):
//   cells (dim 2): "tissue", "tumour", "vessel_normal", "vessel_ruptured"; facets (dim 1): "boundary".
// Regenerate: gmsh -2 -format msh41 meshes/primary_2d.geo -o meshes/primary_2d.msh
// Parameters can be changed on the command line, e.g. -setnumber h 0.02
SetFactory("Built-in");

DefineConstant[
  L = {1.0, Name "organ length"},
  W = {0.7, Name "organ width"},
  h = {0.035, Name "mesh size in the bulk"},
  h_fine = {0.0175, Name "mesh size at tumour and vessels"},
  tx = {0.45, Name "tumour centre x"}, ty = {0.38, Name "tumour centre y"},
  tr = {0.08, Name "tumour radius"},
  vr = {0.025, Name "vessel radius"},
  nx = {0.75, Name "normal vessel x"}, ny = {0.45, Name "normal vessel y"},
  rx = {0.2, Name "ruptured vessel x"}, ry = {0.5, Name "ruptured vessel y"}
];
Mesh.Algorithm = 6;   // Frontal-Delaunay: few obtuse triangles
Mesh.RandomSeed = 1;
Mesh.MshFileVersion = 4.1;

// Organ outline: a closed spline through a lobed (kidney-like) ring of points.
n = 12;
For i In {0 : n - 1}
  t = 2 * Pi * i / n;
  rr = 1 - 0.12 * Cos(2 * t) + 0.06 * Sin(3 * t);
  p[i] = newp; Point(p[i]) = {L / 2 + L / 2 * rr * Cos(t), W / 2 + W / 2 * rr * Sin(t), 0, h};
EndFor
outline = newc; Spline(outline) = {p[], p[0]};
outer = newcl; Curve Loop(outer) = {outline};

// A disc as four quarter arcs (built-in circles must be < Pi); returns the curve loop in disc.
Macro "MakeDisc"
  c0 = newp; Point(c0) = {cx, cy, 0, hs};
  q0 = newp; Point(q0) = {cx + cr, cy, 0, hs};
  q1 = newp; Point(q1) = {cx, cy + cr, 0, hs};
  q2 = newp; Point(q2) = {cx - cr, cy, 0, hs};
  q3 = newp; Point(q3) = {cx, cy - cr, 0, hs};
  a0 = newc; Circle(a0) = {q0, c0, q1};
  a1 = newc; Circle(a1) = {q1, c0, q2};
  a2 = newc; Circle(a2) = {q2, c0, q3};
  a3 = newc; Circle(a3) = {q3, c0, q0};
  disc = newcl; Curve Loop(disc) = {a0, a1, a2, a3};
Return

// (a Call must end its line: gmsh runs the macro only at the line break)
cx = tx; cy = ty; cr = tr; hs = h_fine; Call "MakeDisc";
tumour = disc;
cx = nx; cy = ny; cr = vr; hs = h_fine; Call "MakeDisc";
normal = disc;
cx = rx; cy = ry; cr = vr; hs = h_fine; Call "MakeDisc";
ruptured = disc;

s_tissue = news; Plane Surface(s_tissue) = {outer, tumour, normal, ruptured};
s_tumour = news; Plane Surface(s_tumour) = {tumour};
s_normal = news; Plane Surface(s_normal) = {normal};
s_ruptured = news; Plane Surface(s_ruptured) = {ruptured};

Physical Surface("tissue", 1) = {s_tissue};
Physical Surface("tumour", 2) = {s_tumour};
Physical Surface("vessel_normal", 3) = {s_normal};
Physical Surface("vessel_ruptured", 4) = {s_ruptured};
Physical Curve("boundary", 11) = {outline};
