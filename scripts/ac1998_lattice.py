"""Lattice reference for the Anderson & Chaplain (1998) discrete angiogenesis model.

Independent numpy re-implementation of the hybrid (discrete tip) model of Anderson & Chaplain,
Bull. Math. Biol. 60:857 (1998), with the rules of the published re-implementation that goes
with Nardini et al., PLoS Comput. Biol. 17:e1009094 (2021): github.com/johnnardini/Angio_TDA,
angio.py, class angio_abm. A reference to compare seedsoil's FEM/agent angiogenesis against.

    .venv/bin/python scripts/ac1998_lattice.py --replicates 10 --seed 0 --t-max 20 \
        --branch-prob one|step [--chemo hill|const] [--scheme code|upwind|drift --dt DT]
        [--eta ETA] [--rho RHO] [--json FILE]

--scheme drift walks the tip's own equation (central differences of the neighbours, what
seedsoil's tips do); the code's scheme reads the tip's own site, where it takes up TAF,
and crosses by that (--eta 0: it stalls). scripts/ac1998.py sets both beside seedsoil.

Model (A&C units, 201 x 201 lattice on [0,1]^2, h = 0.005, dt = 0.01): c = exp(-(1-x)^2/0.45),
f = 0.75 exp(-x^2/0.45), five tips on x = 0. Per step, as in angio_abm: (1) each active tip moves
with the 5-point probabilities P0..P4 (stay, +x, -x, +y, -y) of the discretised n-equation:
diffusion, chemotaxis chi(c) grad c upwinded on c, haptotaxis rho grad f in the code's one-sided
form; sampled as the code does (p = sum(P) U against the cumulative sums: a negative P empties
its interval, sum(P) <= 0 means no move; both are counted). A tip moving onto a site of another
still-active sprout's path is anastomosed (inactive). (2) c, f change at the current tip site of
every sprout, anastomosed ones included, not along the trail. (3) An active tip older than psi
branches if the occupied sites of its 3x3 block number more than 2.5/c (the code's density
rule), one is free, and U < P_n; the daughter starts on a random free site of the block.
Differences from the code: chi(c) = chi0/(1 + alpha c) (the code's 'hill' path cannot run;
--chemo const is what Nardini ran); the daughter goes on a free site (the code indexes the block
with the count of occupied sites); 5 tips, not 9. Times are also given in days (tau_AC =
0.2^2 cm^2 / 2.9e-7 cm^2/s) and seedsoil units (tau = 4e4 s). "front x" is the network front
(largest x of any occupied site).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

NG, H, DT = 201, 0.005, 0.01
SCHEME = "code"  # --scheme: "code", "upwind" or "drift" (see move_probs)
D, CHI0, ALPHA, RHO = 3.5e-4, 0.38, 0.6, 0.34
BETA, GAMMA, ETA, PSI, NB = 0.05, 0.1, 0.1, 0.5, 2.5
TIP_Y = (0.17, 0.30, 0.50, 0.65, 0.84)
SAMPLE_T = (2, 4, 6, 8, 10, 12)
REACH_I = round(0.9 / H)  # first tip at x >= 0.9
TAU_AC = 0.2**2 / 2.9e-7  # s
DAYS, SEEDSOIL = TAU_AC / 86400.0, TAU_AC / 4e4  # A&C time unit in days / in seedsoil units


def branch_prob(c, rule):
    """P_n: 'one' is what Nardini's runs used; 'step' is the code's commented-out table."""
    if rule == "one":
        return 1.0
    return 0.0 if c < 0.1 else 0.2 if c < 0.25 else 0.3 if c < 0.4 else 0.4 if c < 0.5 else 1.0


def diffs(A, i, j):
    """grad_est: (central, backward, forward) differences in x and y; one-sided on the walls."""
    m = NG - 1
    if i == 0 or i == m:
        g = A[1, j] - A[0, j] if i == 0 else A[m, j] - A[m - 1, j]
        gx = (g, g, g)
    else:
        gx = ((A[i + 1, j] - A[i - 1, j]) / 2, A[i, j] - A[i - 1, j], A[i + 1, j] - A[i, j])
    if j == 0 or j == m:
        g = A[i, 1] - A[i, 0] if j == 0 else A[i, m] - A[i, m - 1]
        gy = (g, g, g)
    else:
        gy = ((A[i, j + 1] - A[i, j - 1]) / 2, A[i, j] - A[i, j - 1], A[i, j + 1] - A[i, j])
    return gx, gy


def move_probs(C, F, i, j, chi):
    """P0..P4 (stay, +x, -x, +y, -y) of angio_abm.move_sprouts (not normalised); with
    --scheme drift, the walk of the tip's own equation dX = (chi(c) grad c + rho grad f) dt
    + sqrt(2D) dW: the drift from central differences of the neighbours (the tip's own site
    does not enter), the move up the drift gaining (no negative probabilities).
    """
    k, m = DT / H**2, NG - 1
    P = [1.0 - 4 * k * D] + [k * D] * 4
    chn = chi(C[i, j])
    if SCHEME == "drift":
        for ax, ((g, _, _), (h, _, _)) in enumerate(zip(diffs(C, i, j), diffs(F, i, j))):
            u = DT / H * (chn * g + RHO * h) / H  # drift dt / H (g, h: differences per site)
            P[1 + 2 * ax if u > 0 else 2 + 2 * ax] += abs(u)
            P[0] -= abs(u)
        return P
    nb_up = (C[min(i + 1, m), j], C[i, min(j + 1, m)])
    nb_dn = (C[max(i - 1, 0), j], C[i, max(j - 1, 0)])
    for ax, ((g, gd, gu), (h, hd, hu)) in enumerate(zip(diffs(C, i, j), diffs(F, i, j))):
        up, dn = 1 + 2 * ax, 2 + 2 * ax
        # chemotaxis, upwind on c: chi at the tip for P0, at the target neighbour for the move
        if g > 0:
            P[0] -= k * chn * gd
            P[up] += k * chi(nb_up[ax]) * gu
        elif g < 0:
            P[0] += k * chn * gu
            P[dn] -= k * chi(nb_dn[ax]) * gd
        if (
            SCHEME == "upwind"
        ):  # haptotaxis upwinded like chemotaxis: only the move up the gradient gains
            if h > 0:
                P[0] -= k * RHO * hu
                P[up] += k * RHO * hu
            elif h < 0:
                P[0] += k * RHO * hd
                P[dn] -= k * RHO * hd
        # haptotaxis as written in the code (lowers the opposite move; same mean drift)
        elif h > 0:
            P[0] += k * RHO * hd
            P[dn] -= k * RHO * hu
        elif h < 0:
            P[0] -= k * RHO * hu
            P[up] += k * RHO * hd
    return P


def simulate(rng, t_max, rule, chemo):
    """One replicate; returns the per-replicate numbers (times in A&C units)."""
    chi = (lambda c: CHI0 / (1 + ALPHA * c)) if chemo == "hill" else (lambda c: CHI0)
    x = np.linspace(0.0, 1.0, NG)
    C = np.repeat(np.exp(-((1 - x) ** 2) / 0.45)[:, None], NG, axis=1)
    F = np.repeat(0.75 * np.exp(-(x**2) / 0.45)[:, None], NG, axis=1)
    N = np.zeros((NG, NG), bool)
    paths, age, active, owners = [], [], [], {}  # owners: site -> sprouts whose path has it
    m = NG - 1
    steps_dir = ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1))

    def occupy(s, site):
        paths[s].append(site)
        owners.setdefault(site, set()).add(s)
        N[site] = True

    def new_sprout(site):
        paths.append([])
        age.append(0.0)
        active.append(True)
        occupy(len(paths) - 1, site)

    for y0 in TIP_Y:
        new_sprout((0, round(y0 / H)))
    front, n_br, n_an = 0, 0, 0
    n_tip_steps = n_neg_p = n_neg_tot = 0  # diagnostics: tip-steps, with some P<0, sum(P)<=0
    out = {
        "t_reach": None,
        "front_x": {},
        "events": [],
    }  # events: (t, "branch"|"anastomosis", x, y)
    sample = {round(t / DT): t for t in SAMPLE_T}
    nsteps = round(t_max / DT)
    for step in range(1, nsteps + 1):
        # (1) tip movement, sprouts in order
        for s in range(len(paths)):
            if not active[s]:
                continue
            i, j = paths[s][-1]
            P = move_probs(C, F, i, j, chi)
            tot = sum(P)
            n_tip_steps += 1
            n_neg_p += min(P) < 0
            n_neg_tot += tot <= 0
            # legacy np.random.uniform(0, tot) = tot * U, also for tot < 0 (then no move)
            p, acc, d = tot * rng.random(), 0.0, None
            for q in range(5):
                acc += P[q]
                if p < acc or (q == 4 and p <= acc):
                    d = q
                    break
            if d is None:  # the code's fall-through: no move, nothing appended
                continue
            ni, nj = i + steps_dir[d][0], j + steps_dir[d][1]
            moved = d > 0 and 0 <= ni <= m and 0 <= nj <= m
            site = (ni, nj) if moved else (i, j)
            if moved and any(o != s and active[o] for o in owners.get(site, ())):
                active[s] = False
                n_an += 1
                out["events"].append((round(step * DT, 6), "anastomosis", ni * H, nj * H))
            occupy(s, site)
            front = max(front, site[0])
        # (2) c and f at every sprout's current tip site
        for path in paths:
            C[path[-1]] *= 1 - DT * ETA
            F[path[-1]] = F[path[-1]] * (1 - DT * GAMMA) + DT * BETA
        # (3) branching; daughters born here are visited in the same sweep, as in the code
        s = 0
        while s < len(paths):
            if active[s]:
                branched = False
                if age[s] > PSI:
                    i, j = paths[s][-1]
                    i0, j0 = max(i - 1, 0), max(j - 1, 0)
                    block = N[i0 : i + 2, j0 : j + 2]
                    free = np.argwhere(~block)
                    if (
                        block.sum() > NB / C[i, j]
                        and len(free)
                        and rng.uniform() < branch_prob(C[i, j], rule)
                    ):
                        a, b = free[rng.integers(len(free))]
                        new_sprout((i0 + int(a), j0 + int(b)))
                        front = max(front, i0 + int(a))
                        age[s], branched, n_br = 0.0, True, n_br + 1
                        out["events"].append((round(step * DT, 6), "branch", i * H, j * H))
                if not branched:
                    age[s] += DT
            s += 1
        t = step * DT
        if step in sample:
            out["front_x"][sample[step]] = round(front * H, 6)
        if out["t_reach"] is None and front >= REACH_I:
            out.update(t_reach=t, branches=n_br, anastomoses=n_an, active_at_reach=sum(active))
    if out["t_reach"] is None:
        out.update(branches=n_br, anastomoses=n_an)
    out.update(
        active_end=sum(active),
        sprouts_end=len(paths),
        front_end=round(front * H, 6),
        frac_neg_p=n_neg_p / n_tip_steps,
        frac_neg_total=n_neg_tot / n_tip_steps,
    )
    return out


def stats(vals):
    v = [x for x in vals if x is not None]
    return (
        {"n": len(v), "mean": float(np.mean(v)), "min": float(min(v)), "max": float(max(v))}
        if v
        else {"n": 0, "mean": None, "min": None, "max": None}
    )


def fmt(v, p=2):
    return "   -  " if v is None else f"{v:6.{p}f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--replicates", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--t-max", type=float, default=20.0, help="A&C time units")
    ap.add_argument("--branch-prob", choices=("one", "step"), default="one")
    ap.add_argument(
        "--chemo",
        choices=("hill", "const"),
        default="hill",
        help="chi = chi0/(1+alpha c) (A&C), or chi0 (Nardini's runs)",
    )
    ap.add_argument("--json", help="write the numbers to this file")
    ap.add_argument(
        "--scheme",
        choices=("code", "upwind", "drift"),
        default="code",
        help="haptotaxis as the code writes it (negative probabilities dropped), upwinded, "
        "or the walk of the tip's own drift (central differences, own site left out)",
    )
    ap.add_argument(
        "--eta", type=float, default=0.1, help="TAF uptake by the tips (A&C: 0.1; 0: none)"
    )
    ap.add_argument("--rho", type=float, default=0.34, help="haptotaxis (A&C: 0.34)")
    ap.add_argument(
        "--dt", type=float, default=0.01, help="A&C time units per step (the code's 0.01)"
    )
    a = ap.parse_args()
    global DT, SCHEME, ETA, RHO  # module settings read by move_probs and simulate
    DT, SCHEME, ETA, RHO = a.dt, a.scheme, a.eta, a.rho
    print(
        f"A&C 1998 lattice: branch-prob={a.branch_prob} chemo={a.chemo} seed={a.seed} "
        f"t_max={a.t_max}  (1 A&C unit = {DAYS:.3f} d = {SEEDSOIL:.3f} seedsoil units)"
    )
    print(
        "rep  t_reach(AC)   days  seedsoil | front x at t="
        + ",".join(map(str, SAMPLE_T))
        + " | branches anast | active_end sprouts  wall_s"
    )
    reps, t0 = [], time.perf_counter()
    for r in range(a.replicates):
        t1 = time.perf_counter()
        o = simulate(np.random.default_rng([a.seed, r]), a.t_max, a.branch_prob, a.chemo)
        o["wall_s"] = time.perf_counter() - t1
        reps.append(o)
        tr = o["t_reach"]
        print(
            f"{r:3d}  {fmt(tr) if tr is not None else 'not reached':>11} "
            f"{fmt(tr and tr * DAYS)} {fmt(tr and tr * SEEDSOIL)}   | "
            + " ".join(fmt(o["front_x"].get(t), 3) for t in SAMPLE_T)
            + f" | {o['branches']:8d} {o['anastomoses']:5d} | {o['active_end']:10d} "
            f"{o['sprouts_end']:7d}  {o['wall_s']:6.1f}"
        )
    tr = stats([o["t_reach"] for o in reps])
    summ = {
        "t_reach_AC": tr,
        "t_reach_days": {k: (v * DAYS if k != "n" and v is not None else v) for k, v in tr.items()},
        "t_reach_seedsoil": {
            k: (v * SEEDSOIL if k != "n" and v is not None else v) for k, v in tr.items()
        },
        "front_x": {str(t): stats([o["front_x"].get(t) for o in reps]) for t in SAMPLE_T},
        "branches": stats([o["branches"] for o in reps]),
        "anastomoses": stats([o["anastomoses"] for o in reps]),
        "active_at_reach": stats([o.get("active_at_reach") for o in reps]),
        "active_end": stats([o["active_end"] for o in reps]),
        "sprouts_end": stats([o["sprouts_end"] for o in reps]),
        "frac_neg_p": stats([o["frac_neg_p"] for o in reps]),
        "frac_neg_total": stats([o["frac_neg_total"] for o in reps]),
    }
    wall = time.perf_counter() - t0
    print(
        f"\nsummary over {len(reps)} replicates (mean / min / max); reached x>=0.9 in "
        f"{tr['n']}/{len(reps)}"
    )
    for name, s in (
        [
            ("t_reach [A&C]", tr),
            ("t_reach [days]", summ["t_reach_days"]),
            ("t_reach [seedsoil]", summ["t_reach_seedsoil"]),
        ]
        + [
            (
                f"front x at t={t} AC ({t * DAYS:.2f} d, {t * SEEDSOIL:.2f} ss)",
                summ["front_x"][str(t)],
            )
            for t in SAMPLE_T
        ]
        + [
            (k + (" (at reach or T)" if k in ("branches", "anastomoses") else ""), summ[k])
            for k in (
                "branches",
                "anastomoses",
                "active_at_reach",
                "active_end",
                "sprouts_end",
                "frac_neg_p",
                "frac_neg_total",
            )
        ]
    ):
        print(f"  {name:38s} {fmt(s['mean'], 3)} / {fmt(s['min'], 3)} / {fmt(s['max'], 3)}")
    print(f"wall time {wall:.1f} s")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(
                {
                    "args": vars(a),
                    "tau_AC_s": TAU_AC,
                    "AC_unit_days": DAYS,
                    "AC_unit_seedsoil": SEEDSOIL,
                    "replicates": reps,
                    "summary": summ,
                    "wall_s": wall,
                },
                fh,
                indent=1,
            )


if __name__ == "__main__":
    main()
