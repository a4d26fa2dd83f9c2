#!/usr/bin/env python3
"""Granular column collapse (2D, Drucker-Prager) against the experiments' runout law.

A column of width L0 = 0.1 and height a * L0 stands against the left wall of a 1 x 0.5 domain
and collapses on a floor with Coulomb friction 0.6. The normalized runout (L_final - L0) / L0,
L_final the 99.5th percentile of the particles' x at rest, is compared with Lube et al. 2005
(2D columns): 1.2 a for a < 2.3, 1.9 a^(2/3) above.

    scripts/column_collapse.py RHEO_BINARY [RESOLUTION ...]   (default 128 256)
"""
import glob, os, struct, subprocess, sys, tempfile

L0, WALL_CELLS = 0.1, 3


def scene(a, res, phi=30.0):
    dx = 1.0 / res
    wall = WALL_CELLS * dx
    dt = 0.6 * dx / 29.0  # 0.6 of dx / c, c = sqrt((lambda + 2 mu) / density) = 29 m/s
    steps = int(max(0.6, 4 * (a * L0 / 9.8) ** 0.5) / dt)
    return f'''name = "collapse"
[simulation]
dim = 2
domain = [1.0, 0.5]
resolution = {res}
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
density = 1600.0
youngs_modulus = 1e6
poissons_ratio = 0.3
friction_angle = {phi}
[[bodies]]
shape = "box"
min = [{wall!r}, {wall!r}]
max = [{wall + L0!r}, {wall + a * L0!r}]
material = "sand"
particles_per_cell = 2
'''


def runout(out, res):
    """The normalized runout two ways: the 99.5th percentile of x (which counts the thin
    tail), and the front of the deposit where it is more than two cells thick; and whether
    the deposit reached the right wall (then the domain, not the material, stopped it)."""
    last = sorted(glob.glob(os.path.join(out, "frame_*.ply")))[-1]
    data = open(last, "rb").read()
    start = data.index(b"end_header\n") + len(b"end_header\n")
    header = data[:start].decode().split("\n")
    n = int(next(l for l in header if l.startswith("element vertex")).split()[2])
    stride = 4 * sum(1 for l in header if l.startswith("property"))
    points = [struct.unpack_from("<ff", data, start + i * stride) for i in range(n)]
    dx, wall = 1.0 / res, WALL_CELLS / res
    xs = sorted(x for x, _ in points)
    top = {}
    for x, y in points:
        top[int(x / dx)] = max(top.get(int(x / dx), 0.0), y - wall)
    front = (max(k for k, t in top.items() if t > 2 * dx) + 1) * dx
    at_wall = xs[-1] > 1.0 - wall - 2 * dx
    return (xs[int(0.995 * (n - 1))] - wall - L0) / L0, (front - wall - L0) / L0, at_wall


def main():
    rheo, resolutions = sys.argv[1], [int(r) for r in sys.argv[2:]] or [128, 256]
    print("runout (L - L0) / L0: 99.5th percentile of x / front where the deposit is over 2 cells thick")
    print("a    " + "  ".join(f"res {r:4d}    " for r in resolutions) + "  Lube 2005")
    with tempfile.TemporaryDirectory() as tmp:
        for a in [0.5, 1.0, 2.0, 3.0]:
            row = []
            for res in resolutions:
                path, out = os.path.join(tmp, "c.toml"), os.path.join(tmp, f"out{a}_{res}")
                open(path, "w").write(scene(a, res))
                subprocess.run([rheo, "run", path, "--out", out], check=True, capture_output=True)
                row.append(runout(out, res))
            law = 1.2 * a if a < 2.3 else 1.9 * a ** (2 / 3)
            cells = [f"{p:5.2f}/{f:4.2f}{'*' if w else ' '}" for p, f, w in row]
            print(f"{a:<4} " + "  ".join(cells) + f"  {law:9.2f}")
    print("* the deposit reached the right wall: the domain stopped it")


if __name__ == "__main__":
    main()
