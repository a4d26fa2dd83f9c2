//! The model as the MPM kernels read it: mirrors of the shaders' structs (the `Params` uniform,
//! the material table's `Material`, the collider table's `Collider`), a model's values in those
//! layouts ([`ModelData`]), and their buffers on the device ([`ModelBuffers`]), uploaded once and
//! rewritten in place by [`GpuSimulation::update_model`](super::GpuSimulation::update_model).

use super::KernelLaws;
use crate::geometry::{Shape, box_center_half_extents};
use crate::gpu::{GpuContext, upload};
use crate::material::Material;
use crate::math::Vector;
use crate::mpm::{Collider, Contact, Model};

/// Mirror of `Params` in `shaders/mpm/mpm_common.wgsl` (a test checks the layout against the
/// shader's).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Params {
    /// Number of particles.
    pub particles: u32,
    /// Number of grid nodes.
    pub nodes: u32,
    /// Depth of the wall layer in cells.
    pub wall_thickness: u32,
    /// Number of actuators (signals per step).
    pub actuators: u32,
    /// Cells per axis.
    pub cells: [u32; 4],
    /// Node strides per axis (last axis fastest).
    pub strides: [u32; 4],
    /// Gravity.
    pub gravity: [f32; 4],
    /// Contact kind per wall side (axis a: lower 2a, upper 2a + 1): 0 sticky, 1 slip, 2 separate.
    pub wall_kind: [[u32; 4]; 2],
    /// Coulomb friction per wall side (negative: infinite).
    pub wall_friction: [[f32; 4]; 2],
    /// Time step.
    pub dt: f32,
    /// Cell width.
    pub dx: f32,
    /// 1 / dx.
    pub inv_dx: f32,
    /// Fixed-point scale of mass (a power of two).
    pub mass_scale: f32,
    /// Fixed-point scale of momentum (a power of two).
    pub momentum_scale: f32,
    /// Active stress per unit signal.
    pub actuation_stress: f32,
    /// Bits the largest contribution to a fixed-point sum takes
    /// ([`FORWARD_BITS`](super::FORWARD_BITS) or [`GRADIENT_BITS`](super::GRADIENT_BITS)).
    pub fixed_bits: u32,
    /// Number of materials.
    pub materials: u32,
    /// Number of colliders.
    pub colliders: u32,
    /// Padding to the shader struct's size (a multiple of 16 bytes).
    pub _padding: [u32; 3],
}

/// Mirror of `Material` in `shaders/materials/laws.wgsl`: one entry of the kernels' material table
/// (a test checks the layout against the shader's).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct GpuMaterial {
    /// The elastic law's code, the plastic law's code, two unused words.
    pub laws: [u32; 4],
    /// The Newtonian viscosity, then the plastic law's parameters (Drucker-Prager's as its cone slope alpha).
    pub params: [f32; 4],
}

/// Mirror of `Collider` in `shaders/mpm/colliders.wgsl`: one entry of the grid update's collider
/// table (a test checks the layout against the shader's).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct GpuCollider {
    /// Shape code, contact kind, the first entry of its path in the path buffer, its path's
    /// steps.
    pub codes: [u32; 4],
    /// The half space's point, the centre, or the capsule's or cylinder's end a; then the radius.
    pub a: [f32; 4],
    /// The half space's normal, the box's half extents, or the other end b; then the friction.
    pub b: [f32; 4],
    /// Constant translational velocity.
    pub velocity: [f32; 4],
    /// Angular velocity.
    pub angular_velocity: [f32; 4],
}

/// What the kernels read of a model, besides the per-particle material and actuator indices:
/// the parameters, per-particle properties and fibers, the material table and the colliders.
pub(super) struct ModelData {
    pub(super) params: Params,
    pub(super) props: Vec<[f32; 4]>,
    pub(super) fiber: Vec<f32>,
    pub(super) materials: Vec<GpuMaterial>,
    /// Each with one unused entry at the end: a binding is never empty.
    pub(super) colliders: Vec<GpuCollider>,
    pub(super) collider_path: Vec<[f32; 4]>,
}

impl ModelData {
    /// The values of `model` for a simulation whose scatters keep `fixed_bits`.
    pub(super) fn of<const D: usize>(model: &Model<f32, D>, fixed_bits: u32) -> Self {
        let n = model.particles.len();
        let spec = &model.grid;
        let mut params = Params {
            particles: n as u32,
            nodes: spec.node_count() as u32,
            wall_thickness: model.walls.thickness as u32,
            actuators: model.actuator_count as u32,
            actuation_stress: model.actuation_stress,
            fixed_bits,
            materials: model.materials.len() as u32,
            colliders: model.colliders.len() as u32,
            dt: model.dt,
            dx: spec.dx,
            inv_dx: 1.0 / spec.dx,
            ..Default::default()
        };
        let strides = spec.strides();
        #[allow(clippy::needless_range_loop)] // the axis indexes cells, strides, gravity and walls alike
        for a in 0..D {
            params.cells[a] = spec.cells[a] as u32;
            params.strides[a] = strides[a] as u32;
            params.gravity[a] = model.gravity[a];
            for side in 0..2 {
                let (kind, friction) = contact_code(&model.walls.sides[a][side]);
                let s = 2 * a + side;
                params.wall_kind[s / 4][s % 4] = kind;
                params.wall_friction[s / 4][s % 4] = friction;
            }
        }
        let max_mass = model.particles.mass.iter().fold(0.0f32, |m, &x| m.max(x));
        params.mass_scale = fixed_scale(max_mass, fixed_bits);
        params.momentum_scale = fixed_scale(max_mass * spec.dx / model.dt, fixed_bits);
        let pr = &model.particles;
        let props = (0..n).map(|p| [pr.mass[p], pr.volume[p], pr.lame[p].mu, pr.lame[p].lambda]).collect();
        let (mut colliders, mut collider_path) = collider_tables(&model.colliders);
        colliders.push(GpuCollider::default());
        collider_path.push([0.0; 4]);
        ModelData {
            params,
            props,
            fiber: super::flat(&pr.fiber),
            materials: model.materials.iter().map(gpu_material).collect(),
            colliders,
            collider_path,
        }
    }
}

/// What the kernels read about the model, besides the state.
pub(super) struct ModelBuffers {
    pub(super) uniform: wgpu::Buffer,
    pub(super) props: wgpu::Buffer,
    pub(super) material_of: wgpu::Buffer,
    pub(super) materials: wgpu::Buffer,
    pub(super) actuator_of: wgpu::Buffer,
    pub(super) fiber: wgpu::Buffer,
    /// The collider table and the colliders' paths (`shaders/mpm/colliders.wgsl`).
    pub(super) colliders: wgpu::Buffer,
    pub(super) collider_path: wgpu::Buffer,
    /// The grid update's node velocities.
    pub(super) grid_v: wgpu::Buffer,
}

impl ModelBuffers {
    /// The buffers by the kernels' names for them (`shaders/mpm/`).
    pub(super) fn named(&self) -> [(&'static str, &wgpu::Buffer); 9] {
        [
            ("params", &self.uniform),
            ("props", &self.props),
            ("material_of", &self.material_of),
            ("materials", &self.materials),
            ("actuator_of", &self.actuator_of),
            ("fiber", &self.fiber),
            ("colliders", &self.colliders),
            ("collider_path", &self.collider_path),
            ("grid_v", &self.grid_v),
        ]
    }

    /// Uploads `model` as `data` holds it (made by [`ModelData::of`] from `model`), with zeroed
    /// node velocities.
    pub(super) fn upload<const D: usize>(gpu: &GpuContext, model: &Model<f32, D>, data: &ModelData) -> Self {
        let uniform = gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("params"),
            size: size_of::<Params>() as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        gpu.queue.write_buffer(&uniform, 0, bytemuck::bytes_of(&data.params));
        ModelBuffers {
            uniform,
            props: upload(gpu, "props", &data.props),
            material_of: upload(gpu, "material of", &model.particles.material),
            materials: upload(gpu, "materials", &data.materials),
            actuator_of: upload(gpu, "actuator of", &model.particles.actuator),
            fiber: upload(gpu, "fiber", &data.fiber),
            colliders: upload(gpu, "colliders", &data.colliders),
            collider_path: upload(gpu, "collider paths", &data.collider_path),
            grid_v: upload(gpu, "grid velocity", &vec![0f32; model.grid.node_count() * D]),
        }
    }

    /// Rewrites the buffers in place with `model` as `data` holds it, of the shape they were
    /// made for.
    pub(super) fn rewrite<const D: usize>(&self, queue: &wgpu::Queue, model: &Model<f32, D>, data: &ModelData) {
        queue.write_buffer(&self.uniform, 0, bytemuck::bytes_of(&data.params));
        queue.write_buffer(&self.props, 0, bytemuck::cast_slice(&data.props));
        queue.write_buffer(&self.fiber, 0, bytemuck::cast_slice(&data.fiber));
        queue.write_buffer(&self.material_of, 0, bytemuck::cast_slice(&model.particles.material));
        queue.write_buffer(&self.actuator_of, 0, bytemuck::cast_slice(&model.particles.actuator));
        queue.write_buffer(&self.materials, 0, bytemuck::cast_slice(&data.materials));
        queue.write_buffer(&self.colliders, 0, bytemuck::cast_slice(&data.colliders));
        queue.write_buffer(&self.collider_path, 0, bytemuck::cast_slice(&data.collider_path));
    }
}

/// Gradient parts per collider and node (`COLLIDER_GRADIENTS` of `shaders/mpm/colliders.wgsl`): a
/// [`ColliderStepGradient`](crate::mpm::ColliderStepGradient), dL/d(surface velocity),
/// dL/d(angular velocity), dL/d(displacement).
pub(super) const fn collider_gradients(dim: usize) -> usize {
    2 * dim + 3
}

/// The collider table and the path buffer of `shaders/mpm/colliders.wgsl`: per collider its path's
/// velocities, then the sums of the velocities before each step (the CPU's own, so that the
/// poses are the CPU's).
fn collider_tables<const D: usize>(colliders: &[Collider<f32, D>]) -> (Vec<GpuCollider>, Vec<[f32; 4]>) {
    let four = |v: &Vector<f32, D>, w: f32| {
        let mut out = [0.0, 0.0, 0.0, w];
        out[..D].copy_from_slice(v.as_slice());
        out
    };
    let mut table = Vec::with_capacity(colliders.len());
    let mut path = Vec::new();
    for c in colliders {
        let velocities = c.path.velocities();
        let (shape, a, b, radius) = match c.shape {
            Shape::HalfSpace { point, normal } => (0, point, normal, 0.0),
            Shape::Box { center, half_extents } => (1, center, half_extents, 0.0),
            Shape::BoxCorners { min, max } => {
                let (center, half_extents) = box_center_half_extents(&min, &max);
                (1, center, half_extents, 0.0)
            }
            Shape::Sphere { center, radius } => (2, center, Vector::<f32, D>::zeros(), radius),
            Shape::Capsule { a, b, radius } => (3, a, b, radius),
            Shape::Cylinder { a, b, radius } => (4, a, b, radius),
            Shape::Mesh(_) => unreachable!("Model::validate refuses mesh colliders"),
        };
        let (kind, friction) = contact_code(&c.contact);
        let w = c.angular_velocity;
        table.push(GpuCollider {
            codes: [shape, kind, path.len() as u32, velocities.len() as u32],
            a: four(&a, radius),
            b: four(&b, friction),
            velocity: four(&c.velocity, 0.0),
            angular_velocity: [w[0], w[1], w[2], 0.0],
        });
        path.extend(velocities.iter().map(|v| four(v, 0.0)));
        path.extend((0..=velocities.len()).map(|k| four(&c.path.sum_before(k), 0.0)));
    }
    (table, path)
}

/// The laws the kernels of a model with material table `materials` are compiled for: each
/// kind of law whose code all materials share.
pub(super) fn kernel_laws(materials: &[GpuMaterial]) -> KernelLaws {
    let shared =
        |k: usize| materials.first().map(|m| m.laws[k]).filter(|&code| materials.iter().all(|m| m.laws[k] == code));
    KernelLaws { elastic: shared(0), plastic: shared(1) }
}

/// A material as the kernels' table holds it (each law's code of `shaders/materials/laws.wgsl`,
/// the viscosity, the plastic law's parameters as the kernels read them).
fn gpu_material(m: &Material<f32>) -> GpuMaterial {
    let mut params = [m.viscosity, 0.0, 0.0, 0.0];
    for (slot, value) in params[1..].iter_mut().zip(m.plastic.gpu_parameters()) {
        *slot = value;
    }
    GpuMaterial { laws: [m.elastic.gpu_code(), m.plastic.gpu_code(), 0, 0], params }
}

/// Gradients per material a backward step sums (`MATERIAL_GRADIENTS` of the shaders): the
/// viscosity's, then the three plastic parameters'.
pub(super) const MATERIAL_GRADIENTS: usize = 4;

/// The largest power of two `s` with `magnitude * s <= 2^bits`. Sums of such contributions
/// reach the flagged range (2^62) only past 2^(62 - bits) contributions per node.
fn fixed_scale(magnitude: f32, bits: u32) -> f32 {
    2f32.powi(bits as i32 - magnitude.max(f32::MIN_POSITIVE).log2().ceil() as i32)
}

fn contact_code(contact: &Contact<f32>) -> (u32, f32) {
    let code = |friction: f32| if friction.is_infinite() { -1.0 } else { friction };
    match *contact {
        Contact::Sticky => (0, 0.0),
        Contact::Slip { friction } => (1, code(friction)),
        Contact::Separate { friction } => (2, code(friction)),
    }
}
