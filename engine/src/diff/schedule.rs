//! PLACEHOLDER (being written): checkpointing schedules.
