#!/usr/bin/env python3
"""Independent reference values for shared/privacy (RDP accountant and log-erfc).

Run:  python3 test/shared/privacy/make_rdp_reference.py  (needs mpmath; about 7 minutes on one core)
Writes test/shared/privacy/rdp-reference.json next to this script.

Why this is independent of the TypeScript implementation: the implementation evaluates
A_alpha with the binomial / two-sided erfc series of Mironov, Talwar & Zhang (2019) in float64.
Here A_alpha is the Renyi moment of the sampled Gaussian mixture itself,

    A_alpha = integral over z of mu0(z) * (mu(z) / mu0(z))^alpha dz,
    mu0 = N(0, s^2),  mu = (1 - q) N(0, s^2) + q N(1, s^2),

integrated numerically with mpmath at 40 significant digits: no series, no erfc. Integer orders
are additionally checked against the exact binomial expansion in mpmath, which validates the
quadrature set-up before it is trusted for fractional orders.
"""
import json
import os

import mpmath as mp

mp.mp.dps = 40

DEFAULT_ORDERS = [1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64))


def log_integrand(z, q, s, alpha):
    u = (2 * z - 1) / (2 * s * s)
    return (-z * z / (2 * s * s) - mp.log(s * mp.sqrt(2 * mp.pi))
            + alpha * mp.log((1 - q) + q * mp.exp(u)))


def peaks(q, s, alpha):
    """Local maxima of the integrand: roots of z = alpha * w(z), w the mixture weight of N(1, s^2)."""
    def h(z):
        u = (2 * z - 1) / (2 * s * s)
        w = q * mp.exp(u) / ((1 - q) + q * mp.exp(u))
        return alpha * w - z

    lo, hi = mp.mpf(-12) * s - 1, mp.mpf(alpha) + 12 * s + 1
    n = 4000
    grid = [lo + (hi - lo) * i / n for i in range(n + 1)]
    found = []
    for a, b in zip(grid, grid[1:]):
        if h(a) > 0 >= h(b):  # h crosses downward: a maximum of the integrand
            found.append(mp.findroot(h, (a, b), solver='anderson'))
    return found


def a_alpha_quad(q, s, alpha):
    q, s, alpha = mp.mpf(q), mp.mpf(s), mp.mpf(alpha)
    points = {mp.mpf(0), mp.mpf(1)}
    for p in peaks(q, s, alpha):
        for k in (0, 0.5, 1, 2, 4, 8, 16):
            points.add(p - k * s)
            points.add(p + k * s)
    bounds = [-mp.inf] + sorted(points) + [mp.inf]
    value, err = mp.quad(lambda z: mp.exp(log_integrand(z, q, s, alpha)), bounds,
                         error=True, maxdegree=10)
    if not err < value * mp.mpf('1e-25'):
        raise RuntimeError(f'quadrature did not converge: q={q} s={s} alpha={alpha} err/value={err / value}')
    return value


def a_alpha_exact_int(q, s, alpha):
    q, s = mp.mpf(q), mp.mpf(s)
    return mp.fsum(mp.binomial(alpha, i) * q ** i * (1 - q) ** (alpha - i)
                   * mp.exp((i * i - i) / (2 * s * s)) for i in range(alpha + 1))


def rdp_per_step(q, s, alpha):
    """Per-step RDP at order alpha, as an mpf."""
    if float(alpha).is_integer():
        exact = a_alpha_exact_int(q, s, int(alpha))
        if alpha in (2, 5, 12, 63):
            quad = a_alpha_quad(q, s, alpha)
            rel = abs(mp.log(quad) - mp.log(exact)) / abs(mp.log(exact))
            if rel > mp.mpf('1e-20'):
                raise RuntimeError(f'quadrature disagrees with the exact sum: q={q} s={s} alpha={alpha} rel={rel}')
        log_a = mp.log(exact)
    else:
        log_a = mp.log(a_alpha_quad(q, s, alpha))
    return log_a / (mp.mpf(alpha) - 1)


def epsilon_improved(rdp_total, orders, delta):
    """Balle et al. 2020 conversion, min over orders; returns (epsilon, order)."""
    best = None
    for r, a in zip(rdp_total, orders):
        a = mp.mpf(a)
        eps = r + mp.log((a - 1) / a) - (mp.log(delta) + mp.log(a)) / (a - 1)
        if best is None or eps < best[0]:
            best = (eps, a)
    return max(best[0], mp.mpf(0)), best[1]


GRID_Q = [1e-3, 0.01, 0.1, 0.5, 0.99]
GRID_SIGMA = [0.5, 1.0, 2.0, 8.0]
GRID_ORDERS = [1.1, 1.5, 2, 2.5, 3.7, 5, 10.9, 12, 31.5, 63]

EPSILON_CASES = [
    # Opacus' own accountant test: q=0.04, sigma=1.5, int(90/0.04) steps, delta=1e-5 -> 7.32911117143
    dict(q=0.04, noiseMultiplier=1.5, steps=2250, delta=1e-5),
    # Cross-device FL scale: 100 of 10,000 clients per round.
    dict(q=0.01, noiseMultiplier=1.0, steps=1000, delta=1e-5),
    # Cross-silo scale: 10 of 100 clients per round, few rounds.
    dict(q=0.1, noiseMultiplier=0.8, steps=50, delta=1e-3),
]


def main():
    out = {'generator': 'test/shared/privacy/make_rdp_reference.py', 'mpmathDps': mp.mp.dps}

    xs = [-40, -5, -1, -1e-3, 0, 1e-8, 0.3, 0.5, 0.9, 1, 1.5, 1.9, 2, 2.1, 2.5, 3, 4, 5, 8, 10,
          20, 26.5, 27.5, 50, 100, 1e3, 1e5, 1e8]
    out['logErfc'] = [{'x': x, 'logErfc': float(mp.log(mp.erfc(mp.mpf(x))))} for x in xs]

    grid = []
    for q in GRID_Q:
        for s in GRID_SIGMA:
            for a in GRID_ORDERS:
                grid.append({'q': q, 'sigma': s, 'order': a, 'rdp': float(rdp_per_step(q, s, a))})
        print(f'grid q={q} done', flush=True)
    out['rdpGrid'] = grid

    cases = []
    for c in EPSILON_CASES:
        per_step = [rdp_per_step(c['q'], c['noiseMultiplier'], a) for a in DEFAULT_ORDERS]
        total = [r * c['steps'] for r in per_step]
        eps, order = epsilon_improved(total, DEFAULT_ORDERS, mp.mpf(c['delta']))
        cases.append({**c, 'rdpPerStep': [float(r) for r in per_step],
                      'epsilon': float(eps), 'order': float(order)})
        print(f'epsilon case {c} -> {float(eps)} at order {float(order)}', flush=True)
    out['epsilonCases'] = cases

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'rdp-reference.json')
    with open(path, 'w') as f:
        json.dump(out, f, indent=1)
        f.write('\n')
    print(f'wrote {path}')


if __name__ == '__main__':
    main()
