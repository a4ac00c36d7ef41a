//! Running an op chain on strips of an image.
//!
//! - [`strip`]: one strip part-way through a chain, paused at each global step ([`StripRun`]);
//! - [`drive`](mod@drive): a rank drives its strip through the chain, the ops on a compute thread,
//!   the global steps through a [`GlobalExchange`] (MPI lives behind that trait, not here);
//! - [`in_process`]: every strip of an image in one process, for the whole-image paths and the
//!   tests.

mod drive;
mod in_process;
mod strip;

pub use drive::{drive, DriveTimes, GlobalExchange, ProgressThrottle, RowsIn, ROW_POLL};
pub use in_process::{run_in_process, run_in_process_chunked, run_whole};
pub use strip::{Step, StripRun, CHUNK_BYTES, CHUNK_WORK};
