#!/usr/bin/env python3
"""Granular column collapse (2D, Drucker-Prager) against the experiments' runout law.

A column of width L0 = 0.1 and height a * L0 stands against the left wall and collapses on a
floor with Coulomb friction 0.6, in a domain long enough for its deposit. Measured at
t = max(0.6 s, 4 sqrt(a L0 / g)): the normalized runouts (x - L0) / L0 of the 95th, 99th and
99.5th percentiles of the particles' x and of the front (where the deposit first thins below
0.05 L0), and the fastest particle's speed (is the pile at rest?). The law is Lube et al. 2005 (2D columns): 1.2 a below a = 2.3, 1.9 a^(2/3) above.
tests/physics_validation.rs (`column_collapse`) builds the same scene.

    scripts/column_collapse.py RHEO_BINARY [CELLS_ACROSS_L0 ...]   (default 13 26)
"""
import glob, math, os, struct, subprocess, sys, tempfile

L0, WALL_CELLS, ASPECTS = 0.1, 3, [0.5, 1.0, 2.0, 4.0, 8.0]


def lube(a):
    return 1.2 * a if a < 2.3 else 1.9 * a ** (2 / 3)


def scene(a, cells):
    """The scene's text, its wall thickness and its cell width in metres."""
    width = L0 * math.ceil(3 + 2.2 * lube(a))
    resolution = round(width / L0 * cells)
    dx = width / resolution
    height = math.ceil(max(0.3, L0 * a * 1.1 + 0.05) / dx) * dx
    wall = WALL_CELLS * dx
    young, poisson, density = 1e6, 0.3, 1600.0
    c = (young * (1 - poisson) / ((1 + poisson) * (1 - 2 * poisson)) / density) ** 0.5
    dt = 0.6 * dx / c
    steps = int(max(0.6, 4 * (a * L0 / 9.8) ** 0.5) / dt)
    return f'''name = "collapse"
[simulation]
dim = 2
domain = [{width!r}, {height!r}]
resolution = {resolution}
dt = {dt!r}
steps = {steps}
frame_every = {steps}
gravity = [0.0, -9.8]
[walls]
kind = "separate"
friction = 0.0
thickness = {WALL_CELLS}
floor = {{ kind = "separate", friction = 0.6 }}
[[materials]]
name = "sand"
model = "drucker_prager"
density = {density!r}
youngs_modulus = {young!r}
poissons_ratio = {poisson!r}
friction_angle = 30.0
[[bodies]]
shape = "box"
min = [{wall!r}, {wall!r}]
max = [{wall + L0!r}, {wall + a * L0!r}]
material = "sand"
particles_per_cell = 2
''', wall, dx


def deposit(out, wall, dx):
    """Normalized runouts at the 95th, 99th and 99.5th percentiles of x and at the front
    (where the deposit, particle area per strip of width L0 / 10 from the wall out, first thins
    below 0.05 L0), and the top speed."""
    last = sorted(glob.glob(os.path.join(out, "frame_*.ply")))[-1]
    data = open(last, "rb").read()
    start = data.index(b"end_header\n") + len(b"end_header\n")
    header = data[:start].decode().split("\n")
    n = int(next(l for l in header if l.startswith("element vertex")).split()[2])
    names = [l.split()[2] for l in header if l.startswith("property")]
    stride = 4 * len(names)
    ix, ivx = names.index("x"), names.index("vx")
    xs, fastest = [], 0.0
    for i in range(n):
        p = struct.unpack_from(f"<{len(names)}f", data, start + i * stride)
        xs.append(p[ix])
        fastest = max(fastest, (p[ivx] ** 2 + p[ivx + 1] ** 2) ** 0.5)
    xs.sort()
    runouts = [(xs[int(q * (n - 1))] - wall - L0) / L0 for q in (0.95, 0.99, 0.995)]
    strip, strips = L0 / 10, {}
    for x in xs:
        strips[int((x - wall) / strip)] = strips.get(int((x - wall) / strip), 0) + 1
    k = 0
    while strips.get(k, 0) * (dx / 2) ** 2 / strip > 0.05 * L0:
        k += 1
    return runouts + [(k * strip - L0) / L0], fastest


def main():
    rheo, resolutions = sys.argv[1], [int(r) for r in sys.argv[2:]] or [13, 26]
    print("runout (x - L0) / L0 at the 95th / 99th / 99.5th percentile of x / the front; top speed in m/s")
    print("a    " + "".join(f"{f'{n} cells across L0':<32}" for n in resolutions) + "Lube 2005")
    with tempfile.TemporaryDirectory() as tmp:
        for a in ASPECTS:
            cells = []
            for n in resolutions:
                text, wall, dx = scene(a, n)
                path, out = os.path.join(tmp, "c.toml"), os.path.join(tmp, f"out{a}_{n}")
                open(path, "w").write(text)
                subprocess.run([rheo, "run", path, "--out", out], check=True, capture_output=True)
                (p95, p99, p995, front), fastest = deposit(out, wall, dx)
                cells.append(f"{p95:5.2f}/{p99:5.2f}/{p995:5.2f}/{front:5.2f} {fastest:5.3f}  ")
            print(f"{a:<4} " + "".join(cells) + f"{lube(a):6.2f}", flush=True)


if __name__ == "__main__":
    main()
