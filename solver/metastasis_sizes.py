"""The non-spatial reference model of metastatic growth: how many metastases, of what size,
and when the first reaches a detection size (docs/kinetics.md).

Iwata, Kawasaki & Shigesada 2000 (J Theor Biol 203:177), and Benzekry et al. 2016 (Cancer Res
76:535) with dissemination mu V^gamma: a primary of x_p(t) cells grows by a law g (Gompertz
g(x) = a x ln(b / x), or exponential), sheds metastases at rate beta(x_p) = m x_p^alpha, and
every metastasis starts at ``seed_cells`` and grows by the same law. With ``secondary`` the
metastases disseminate too (Iwata's boundary condition). The density rho(x, t) of metastases
over size solves the McKendrick-von Foerster equation d_t rho + d_x (g rho) = 0 with
g(x0) rho(x0, t) = B(t), the birth rate. Every metastasis follows the same curve, so one born
at u is larger than s at t exactly when t - u exceeds the time tau_s the law takes from x0 to
s: the transport equation is solved by integrating the birth times,

    N(> s, t) = C(t - tau_s),    C(t) = int_0^t B(u) du,
    B(t) = beta(x_p(t)) + [secondary] int_0^t B(u) beta(X(t - u)) du,

X(tau) the size of a metastasis of age tau (a Volterra renewal equation when metastases seed
too). Taking the births as a Poisson process, P(no metastasis above s by t) =
exp(-N(> s, t)), so the q-quantile of the time to the first one is tau_s + C^-1(-ln(1 - q)).

Numerics: B on a uniform grid of step dt (the renewal equation by the trapezoidal rule), C
by the cumulative trapezoidal rule, C^-1 by linear interpolation of the increasing C: second
order in dt. ``births_exponential``, ``born_exponential`` and ``born_gompertz_first`` are the
closed forms the tests and ``scripts/natural_history.py`` measure the error against.
"""

from __future__ import annotations

import math
from dataclasses import KW_ONLY, dataclass
from typing import Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.integrate import solve_ivp
from scipy.special import exp1

__all__ = [
    "IWATA",
    "IWATA_ALPHA",
    "IWATA_SOURCE",
    "Dissemination",
    "Exponential",
    "Gompertz",
    "GrowthLaw",
    "ReferenceModel",
    "Solution",
    "born_exponential",
    "born_gompertz_first",
    "births_exponential",
    "malthusian_rate",
]

Array = NDArray[np.float64]
LN2 = math.log(2.0)


class GrowthLaw(Protocol):
    """A deterministic growth law of a tumour's cell count."""

    def size(self, x0: float, t: ArrayLike) -> Array:
        """Cells at time t (days) of a tumour of x0 cells at t = 0."""
        ...

    def time_to(self, x0: float, x: float) -> float:
        """Days from x0 to x cells (0 if x <= x0, inf if never)."""
        ...

    def doubling_time(self, x: float) -> float:
        """The volume doubling time ln 2 / (g(x) / x) at x cells (days)."""
        ...


@dataclass(frozen=True)
class Exponential:
    """Exponential growth x(t) = x0 exp(lam t).

    Attributes:
        lam: Growth rate (1/day), ln 2 / VDT.
    """

    lam: float

    def __post_init__(self) -> None:
        if not self.lam > 0:
            raise ValueError(f"an exponential growth rate is > 0, got {self.lam}")

    @classmethod
    def from_vdt(cls, vdt: float) -> Exponential:
        """The law with volume doubling time ``vdt`` (days)."""
        return cls(LN2 / vdt)

    def size(self, x0: float, t: ArrayLike) -> Array:
        """Cells at time t (days) of a tumour of x0 cells at t = 0."""
        return np.asarray(x0 * np.exp(self.lam * np.asarray(t, dtype=float)))

    def time_to(self, x0: float, x: float) -> float:
        """Days from x0 to x cells (0 if x <= x0)."""
        return max(math.log(x / x0), 0.0) / self.lam

    def doubling_time(self, x: float) -> float:
        """The volume doubling time, the same at every size (days)."""
        return LN2 / self.lam


@dataclass(frozen=True)
class Gompertz:
    """Gompertz growth dx/dt = a x ln(b / x): x(t) = b (x0 / b)^exp(-a t).

    Attributes:
        a: Rate (1/day).
        b: Plateau (cells).
    """

    a: float
    b: float

    def __post_init__(self) -> None:
        if not (self.a > 0 and self.b > 1):
            raise ValueError(f"Gompertz needs a > 0 and b > 1, got a={self.a}, b={self.b}")

    @classmethod
    def from_vdt(cls, vdt: float, at_cells: float, b: float) -> Gompertz:
        """The Gompertz law of plateau b whose doubling time at ``at_cells`` is ``vdt`` (days)."""
        if not 0 < at_cells < b:
            raise ValueError(f"need 0 < at_cells < b, got {at_cells}, {b}")
        return cls(LN2 / (vdt * math.log(b / at_cells)), b)

    def size(self, x0: float, t: ArrayLike) -> Array:
        """Cells at time t (days) of a tumour of x0 cells at t = 0."""
        tt = np.asarray(t, dtype=float)
        return np.asarray(self.b * np.exp(math.log(x0 / self.b) * np.exp(-self.a * tt)))

    def integrated(self, x0: float, t: ArrayLike) -> Array:
        """The ODE integrated numerically (rtol = atol = 1e-12) at times t (days, from 0
        ascending): the check of ``size``'s closed form.
        """
        tt = np.asarray(t, dtype=float)
        ode = solve_ivp(
            lambda _, x: self.a * x * np.log(self.b / x),
            (0.0, float(tt[-1])),
            [x0],
            t_eval=tt,
            rtol=1e-12,
            atol=1e-12,
        )
        return np.asarray(ode.y[0])

    def time_to(self, x0: float, x: float) -> float:
        """Days from x0 to x cells (0 if x <= x0, inf if x >= b)."""
        if x <= x0:
            return 0.0
        if x >= self.b:
            return math.inf
        return -math.log(math.log(x / self.b) / math.log(x0 / self.b)) / self.a

    def doubling_time(self, x: float) -> float:
        """The doubling time ln 2 / (a ln(b / x)) at x cells (days); longer as x grows."""
        return LN2 / (self.a * math.log(self.b / x))


@dataclass(frozen=True)
class Dissemination:
    """Metastases founded per day by a tumour of x cells: m x^alpha.

    Attributes:
        m: Colonisation coefficient (per day per cell^alpha).
        alpha: Exponent: 1, every cell alike; 2/3, cells at the surface (Iwata's "fractal
            dimension" of the tumour's vasculature).
    """

    m: float
    alpha: float

    def __post_init__(self) -> None:
        if not (self.m > 0 and 0 <= self.alpha <= 1):
            raise ValueError(f"need m > 0 and 0 <= alpha <= 1, got {self.m}, {self.alpha}")

    def rate(self, x: ArrayLike) -> Array:
        """Metastases founded per day by a tumour of x cells."""
        return np.asarray(self.m * np.asarray(x, dtype=float) ** self.alpha)

    def scaled(self, factor: float) -> Dissemination:
        """The same law with m times ``factor``."""
        return Dissemination(self.m * factor, self.alpha)


IWATA_SOURCE = (
    "Iwata, Kawasaki & Shigesada 2000 J Theor Biol 203:177: hepatocellular carcinoma with "
    "multiple liver metastases, Gompertz a = 0.00286 /day, b = 7.3e10 cells, colonisation "
    "m = 5.3e-8, alpha = 0.663, primary and metastases from 1 cell, metastases seed metastases"
)
IWATA_ALPHA = 0.663
IWATA = (Gompertz(0.00286, 7.3e10), Dissemination(5.3e-8, IWATA_ALPHA))


@dataclass(frozen=True)
class Solution:
    """The birth rate of metastases on a grid and what follows from it.

    Attributes:
        t: The grid (days), uniform from 0.
        births: B(t), metastases founded per day.
        born_cum: C(t), the expected number founded by t.
        law: The metastases' growth law.
        seed_cells: A metastasis's cells when founded.
    """

    t: Array
    births: Array
    born_cum: Array
    law: GrowthLaw
    seed_cells: float

    @property
    def horizon(self) -> float:
        """The last time of the grid (days)."""
        return float(self.t[-1])

    def born(self, t: ArrayLike) -> Array:
        """Expected number of metastases founded by t (days; 0 before 0)."""
        tt = np.asarray(t, dtype=float)
        if np.any(tt > self.horizon * (1 + 1e-12)):
            raise ValueError(f"t beyond the horizon {self.horizon} days")
        return np.asarray(np.interp(tt, self.t, self.born_cum, left=0.0))

    def above(self, cells: float, t: ArrayLike) -> Array:
        """Expected number of metastases larger than ``cells`` at t (days)."""
        tau = self.law.time_to(self.seed_cells, cells)
        tt = np.asarray(t, dtype=float)
        if math.isinf(tau):
            return np.zeros_like(tt)
        return self.born(tt - tau)

    def p_none(self, cells: float, t: ArrayLike) -> Array:
        """P(no metastasis larger than ``cells`` by t), births a Poisson process."""
        return np.asarray(np.exp(-self.above(cells, t)))

    def quantile(self, cells: float, q: float) -> float:
        """The q-quantile of the time (days) to the first metastasis larger than ``cells``:
        tau + C^-1(-ln(1 - q)). The horizon bounds the birth times, not this time (tau is
        exact); inf (censored) when fewer than -ln(1 - q) are expected to be founded by the
        horizon.
        """
        if not 0 < q < 1:
            raise ValueError(f"a quantile is in (0, 1), got {q}")
        tau = self.law.time_to(self.seed_cells, cells)
        target = -math.log1p(-q)
        if math.isinf(tau) or self.born_cum[-1] < target:
            return math.inf
        # C increases strictly where births > 0; interpolate its inverse.
        k = int(np.searchsorted(self.born_cum, target))
        c0, c1 = self.born_cum[k - 1], self.born_cum[k]
        u = self.t[k - 1] + (target - c0) / (c1 - c0) * (self.t[k] - self.t[k - 1])
        return tau + float(u)

    def p_first_between(self, cells: float, t0: float, t1: float) -> float:
        """P(a metastasis grows past ``cells`` in (t0, t1] | none had by t0), births Poisson:
        1 - exp(-(N(> cells, t1) - N(> cells, t0))).
        """
        return float(-np.expm1(-(self.above(cells, t1) - self.above(cells, t0))))

    def median(self, cells: float) -> float:
        """The median time (days) to the first metastasis larger than ``cells``."""
        return self.quantile(cells, 0.5)


@dataclass(frozen=True)
class ReferenceModel:
    """A primary, its dissemination and its metastases' growth.

    Attributes:
        primary: The primary's growth law.
        dissemination: Metastases founded per day by a tumour of x cells.
        primary_cells: The primary's cells at t = 0.
        metastasis: The metastases' law (None: the primary's).
        seed_cells: A metastasis's cells when founded.
        secondary: Metastases found metastases too (Iwata's boundary condition).
        resection: The day the primary is removed: it founds no metastasis afterwards (None:
            never). The grid puts a point at the cut, where C has a kink; with ``secondary``
            the jump enters the renewal convolution to first order over one step.
    """

    primary: GrowthLaw
    dissemination: Dissemination
    primary_cells: float = 1.0
    _: KW_ONLY  # the options by name: a positional True must not become a growth law
    metastasis: GrowthLaw | None = None
    seed_cells: float = 1.0
    secondary: bool = False
    resection: float | None = None

    @property
    def law(self) -> GrowthLaw:
        """The metastases' growth law."""
        return self.metastasis if self.metastasis is not None else self.primary

    def solve(self, horizon: float, dt: float) -> Solution:
        """Births and their cumulative count on a grid of step ``dt`` up to ``horizon`` (days);
        with a resection, the step is shortened so that the cut is a grid point.

        The renewal equation (``secondary``) by the trapezoidal rule: B_n (1 - dt K_0 / 2) =
        f_n + dt (B_0 K_n / 2 + sum_{k=1}^{n-1} B_k K_{n-k}), K(tau) = beta(X(tau)); O(n^2).
        """
        if not (horizon > 0 and 0 < dt <= horizon):
            raise ValueError(f"need horizon > 0 and 0 < dt <= horizon, got {horizon}, {dt}")
        cut = math.inf if self.resection is None else self.resection
        if 0 < cut < horizon:
            # A grid point at the cut: C has a kink there, which interpolation between two
            # points would smear over a step.
            k_cut = int(math.ceil(cut / dt - 1e-9))
            dt = cut / k_cut
        n = int(math.ceil(horizon / dt - 1e-9))
        t = np.arange(n + 1, dtype=float) * dt
        if 0 < cut < horizon:
            t[k_cut] = cut
        f_all = self.dissemination.rate(self.primary.size(self.primary_cells, t))
        f = np.where(t > cut, 0.0, f_all)
        if self.secondary:
            kern = self.dissemination.rate(self.law.size(self.seed_cells, t))
            births = np.empty_like(f)
            births[0] = f[0]
            scale = 1.0 - 0.5 * dt * kern[0]
            for i in range(1, n + 1):
                conv = 0.5 * births[0] * kern[i] + births[1:i] @ kern[i - 1 : 0 : -1]
                births[i] = (f[i] + dt * conv) / scale
        else:
            births = f
        # The metastases' own foundings are continuous; the primary's stop at the resection,
        # so the step across it integrates the primary's term only up to the cut.
        rest = births - f
        step = 0.5 * dt * (rest[1:] + rest[:-1])
        step += np.where(t[1:] <= cut, 0.5 * dt * (f_all[1:] + f_all[:-1]), 0.0)
        across = np.flatnonzero((t[:-1] < cut) & (t[1:] > cut))
        if across.size:
            k = int(across[0])
            f_cut = float(self.dissemination.rate(self.primary.size(self.primary_cells, cut)))
            step[k] += 0.5 * (cut - t[k]) * (f_all[k] + f_cut)
        cum = np.concatenate(([0.0], np.cumsum(step)))
        return Solution(t, births, cum, self.law, self.seed_cells)


def births_exponential(lam: float, m: float, x0: float, t: ArrayLike, secondary: bool) -> Array:
    """Closed form of B(t) for exponential growth and alpha = 1 (gamma = 1).

    B = m x0 e^(lam t) without, m x0 e^((lam + m) t) with metastases seeding (the renewal
    equation's solution: B = e^(lam t) c(t) with c' = m c).
    """
    rate = lam + m if secondary else lam
    return np.asarray(m * x0 * np.exp(rate * np.asarray(t, dtype=float)))


def born_exponential(lam: float, m: float, x0: float, t: ArrayLike, secondary: bool) -> Array:
    """Closed form of C(t) = int_0^t B for exponential growth and alpha = 1."""
    rate = lam + m if secondary else lam
    return np.asarray(m * x0 * np.expm1(rate * np.asarray(t, dtype=float)) / rate)


def born_gompertz_first(law: Gompertz, d: Dissemination, x0: float, t: ArrayLike) -> Array:
    """Closed form of C(t) for a Gompertz primary from x0 cells, first generation only.

    x_p^alpha = b^alpha exp(-c e^(-a u)) with c = alpha ln(b / x0), so
    C(t) = (m b^alpha / a) (E1(c e^(-a t)) - E1(c)), E1 the exponential integral.
    """
    c = d.alpha * math.log(law.b / x0)
    tt = np.asarray(t, dtype=float)
    return np.asarray(d.m * law.b**d.alpha / law.a * (exp1(c * np.exp(-law.a * tt)) - exp1(c)))


def malthusian_rate(law: GrowthLaw, d: Dissemination, seed_cells: float = 1.0) -> float:
    """The rate lam* at which metastases that seed metastases multiply in the long run.

    The renewal equation's births grow as exp(lam* t) with lam* the root of the Euler-Lotka
    equation 1 = int_0^inf exp(-lam tau) beta(X(tau)) d tau (Devys, Goudon & Lafitte 2009
    Discrete Contin Dyn Syst B 12:731 analyse Iwata's model so); a check of ``solve`` that
    needs no closed form of the growth law.
    """
    from scipy.integrate import quad
    from scipy.optimize import brentq

    def excess(lam: float) -> float:
        val, _ = quad(
            lambda tau: math.exp(-lam * tau) * float(d.rate(law.size(seed_cells, tau))),
            0.0,
            math.inf,
            limit=400,
        )
        return val - 1.0

    # Bracket the root: the integral falls from inf (lam -> 0) to 0 (lam -> inf).
    lo = hi = 1.0
    while excess(hi) > 0:
        hi *= 2.0
    while excess(lo) < 0:
        lo *= 0.5
    return float(brentq(excess, lo, hi, xtol=1e-15, rtol=1e-12))
