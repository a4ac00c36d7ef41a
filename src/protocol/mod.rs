//! What ranks say to each other and how: the typed messages (`messages`, pure), how a rank waits
//! for them without spinning (`wait`, pure), and the MPI calls that carry them (`wire`). Only
//! `wire`, `master` and `worker` touch MPI.

mod messages;
mod wait;
#[cfg(feature = "mpi")]
mod wire;

pub use messages::*;
pub use wait::*;
#[cfg(feature = "mpi")]
pub use wire::*;
