//! The shapes of bodies and colliders: one vocabulary, [`Shape`], with the operations both
//! need. Colliders use the signed distance and its normal; sampling a body into particles
//! uses the inside test, the bounding box and the volume. Closed triangle meshes
//! ([`TriMesh`], read from OBJ files) are one of the shapes.
//!
//! Each shape keeps the numbers it was given and each operation computes from those in a fixed
//! order, so that a body's particles and a collider's distances are reproducible to the bit
//! (and the GPU's collider table, which mirrors [`Shape`], agrees with the CPU).

mod mesh;
mod shape;

pub(crate) use mesh::crossings_beyond;
pub use mesh::{MeshError, TriMesh};
pub use shape::{Shape, box_center_half_extents};

#[cfg(test)]
pub(crate) use mesh::tests::UNIT_CUBE_OBJ;
