// Prelude for 3D kernels (see dim2.wgsl).

const DIM: u32 = 3u;
const STENCIL: u32 = 27u;
alias VecD = vec3<f32>;
alias MatD = mat3x3<f32>;

fn identity() -> MatD {
    return MatD(1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0);
}

// J F^{-T}: the matrix of 2x2 minors with signs.
fn cofactor(m: MatD) -> MatD {
    return MatD(cross(m[1], m[2]), cross(m[2], m[0]), cross(m[0], m[1]));
}

// The rotation of F = R S by Higham's scaled Newton iteration X <- (g X + X^{-T} / g) / 2,
// g = |det X|^(-1/3) in the first three steps, as the CPU reference does for det F > 1e-2.
// (Inverted and nearly flat elements, where the CPU falls back to the SVD, are not handled
// here yet.)
fn polar_rotation(f: MatD) -> MatD {
    var x = f;
    var det_x = determinant(f);
    for (var k = 0u; k < 20u; k++) {
        let inv_t = cofactor(x) * (1.0 / det_x);
        var g = 1.0;
        if (k < 3u) {
            g = 1.0 / pow(abs(det_x), 1.0 / 3.0);
        }
        let next = (x * g + inv_t * (1.0 / g)) * 0.5;
        let d = next - x;
        let change = dot(d[0], d[0]) + dot(d[1], d[1]) + dot(d[2], d[2]);
        x = next;
        // (16 f32 epsilon)^2 per entry, as on the CPU.
        if (change <= 1.09e-11) {
            break;
        }
        det_x = determinant(x);
    }
    return x;
}
