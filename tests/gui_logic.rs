//! The GUI driven headless with egui_kittest: real widgets, real clicks, a real MPI job (this test
//! process is a one-rank MPI job, started once and shared by every test) and real files. The
//! end-to-end run with several ranks and a real window is `tests/gui_e2e.sh`.
//!
//! One module per part of the window, in `tests/gui_logic/`; `helpers` holds the harness they
//! share. A test crate's root looks for its modules beside it (`tests/helpers.rs`, where cargo
//! would take each for a test of its own), hence the paths.

#[path = "gui_logic/batch.rs"]
mod batch;
#[path = "gui_logic/chain.rs"]
mod chain;
#[path = "gui_logic/classify.rs"]
mod classify;
#[path = "gui_logic/helpers.rs"]
mod helpers;
#[path = "gui_logic/image.rs"]
mod image;
#[path = "gui_logic/relaunch.rs"]
mod relaunch;
#[path = "gui_logic/truth.rs"]
mod truth;
#[path = "gui_logic/window.rs"]
mod window;
