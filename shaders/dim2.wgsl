// Prelude for 2D kernels: the dimension, its vector and matrix types and the small-matrix
// functions whose form depends on it. dim3.wgsl defines the same names for 3D; a kernel is
// compiled as prelude + mpm_common.wgsl + kernel.

const DIM: u32 = 2u;
const STENCIL: u32 = 9u;
alias VecD = vec2<f32>;
alias MatD = mat2x2<f32>;

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
