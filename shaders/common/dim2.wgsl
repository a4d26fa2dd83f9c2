// Prelude for 2D kernels: the dimension, its vector and matrix types and the small-matrix
// functions whose form depends on it. dim3.wgsl defines the same names for 3D; a kernel is
// compiled as prelude + a solver's shared parts + kernel.

const DIM: u32 = 2u;
const STENCIL: u32 = 9u;

// The smallest sigma_i + sigma_j the polar rotation's adjoint divides by (where an element
// inverts through a flat state), as on the CPU (math::MIN_SIGMA_SUM).
const MIN_SIGMA_SUM: f32 = 1e-6;

alias VecD = vec2<f32>;
alias MatD = mat2x2<f32>;
alias VecU = vec2<u32>;

// Stencil node k's offset per axis: k's base-3 digits, last axis fastest.
fn stencil_digits(k: u32) -> VecU {
    return VecU(k / 3u, k % 3u);
}

// A node's weight from its per-axis weights w, and the weight's gradient from their
// derivatives dw (mpm_common.wgsl, stencil_node).
fn weight_product(w: VecD) -> f32 {
    return w.x * w.y;
}

fn weight_product_gradient(w: VecD, dw: VecD) -> VecD {
    return VecD(dw.x * w.y, dw.y * w.x);
}

fn identity() -> MatD {
    return MatD(1.0, 0.0, 0.0, 1.0);
}

// J F^{-T}: no division, finite at J = 0.
fn cofactor(m: MatD) -> MatD {
    return MatD(m[1][1], -m[1][0], -m[0][1], m[0][0]);
}

// The rotation of F = R S: the rotation by the angle of (F00 + F11, F10 - F01).
fn polar_rotation(f: MatD) -> MatD {
    let c = f[0][0] + f[1][1];
    let s = f[0][1] - f[1][0];
    let n = sqrt(c * c + s * s);
    if (n > 0.0) {
        return MatD(c / n, s / n, -s / n, c / n);
    }
    return identity();
}

// F = U diag(sigma) V^T with U, V rotations (sigma_1 may be negative: the signed SVD, as on the
// CPU). Closed form: F = E I + H J + Fh K + G L (J the rotation generator, K and L the two
// reflections); F = rot(phi) diag(Q + R, Q - R) rot(theta)^T with phi = (a1 + a2) / 2,
// theta = (a1 - a2) / 2, a1 the angle of (Fh, G), a2 that of (E, H). The CPU takes the angles
// with atan2 and rotates by sin and cos; here the half angles come as unit vectors, with no
// trigonometry: drivers may compute sin and cos to 2^-11 (Vulkan's bound; lavapipe's rebuilt F
// to 4e-6, the CPU's f32 to 4e-7), square roots and divisions to a few ulp.
struct Svd {
    u: MatD,
    sigma: VecD,
    v: MatD,
}

// The unit vector at half the angle of (x, y), whose length is `len`: in (-pi/2, pi/2] as half
// of atan2(y, x) is, and (1, 0) for the zero vector as atan2(0, 0) = 0. tan(a / 2) is
// y / (len + x) = (len - x) / y; each form is taken where it has no cancellation.
fn half_angle(x: f32, y: f32, len: f32) -> VecD {
    if (len == 0.0) {
        return VecD(1.0, 0.0);
    }
    var v = VecD(len + x, y);
    if (x < 0.0) {
        v = VecD(abs(y), select(len - x, x - len, y < 0.0));
    }
    // Tiny vectors are rescaled first, as on the CPU (math/svd.rs): their squares would leave
    // f32's normal range (or flush to 0) and v / |v| would not be a unit vector.
    let m = max(abs(v.x), abs(v.y));
    if (m < 1e-15) {
        v = v / m;
    }
    return v / sqrt(dot(v, v));
}

// The rotation by the angle of the unit vector z.
fn rotation_of(z: VecD) -> MatD {
    return MatD(z.x, z.y, -z.y, z.x);
}

fn svd(f: MatD) -> Svd {
    // f[col][row].
    let e = (f[0][0] + f[1][1]) * 0.5;
    let fh = (f[0][0] - f[1][1]) * 0.5;
    let g = (f[0][1] + f[1][0]) * 0.5;
    let h = (f[0][1] - f[1][0]) * 0.5;
    let q = sqrt(e * e + h * h);
    let r = sqrt(fh * fh + g * g);
    let h1 = half_angle(fh, g, r);
    let h2 = half_angle(e, h, q);
    // Angles add and subtract as complex numbers multiply: phi = h1 h2, theta = h1 conj(h2).
    let phi = VecD(h1.x * h2.x - h1.y * h2.y, h1.x * h2.y + h1.y * h2.x);
    let theta = VecD(h1.x * h2.x + h1.y * h2.y, h1.y * h2.x - h1.x * h2.y);
    return Svd(rotation_of(phi), VecD(q + r, q - r), rotation_of(theta));
}

// Adjoint of cofactor: dL/dM from dL/d(cof M) (linear in 2D).
fn cofactor_adjoint(m: MatD, c_bar: MatD) -> MatD {
    return cofactor(c_bar);
}

// Adjoint of polar_rotation: dL/dF from dL/dR. R is the rotation by the angle of
// (c, s) = (F00 + F11, F10 - F01), whose length sigma_0 + sigma_1 is bounded below by
// MIN_SIGMA_SUM as on the CPU.
fn polar_rotation_adjoint(f: MatD, r_bar: MatD) -> MatD {
    let c = f[0][0] + f[1][1];
    let s = f[0][1] - f[1][0];
    let n2 = max(c * c + s * s, MIN_SIGMA_SUM * MIN_SIGMA_SUM);
    let n = sqrt(n2);
    // dR/dangle = [[-sin, -cos], [cos, -sin]].
    let angle_bar = -(s / n) * (r_bar[0][0] + r_bar[1][1]) + (c / n) * (r_bar[0][1] - r_bar[1][0]);
    let c_bar = -angle_bar * s / n2;
    let s_bar = angle_bar * c / n2;
    return MatD(c_bar, s_bar, -s_bar, c_bar);
}
