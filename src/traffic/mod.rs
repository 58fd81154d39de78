//! Traffic: a pattern of frames (ping-pong, stream, pipeline, fan-out, fan-in) over one mechanism,
//! between worker processes. The live stage and `bench` both run it.
//!
//! - `spec`: `RunSpec` (what to run), `Pattern` and the `Topology` it makes;
//! - `setup`: the live stage's setups as the GUI offers them (built-in ones, files);
//! - `worker`: the child process (`ipc-lab worker`) and its node programs;
//! - `session`: the thread behind the live stage; `model`: what it shows, folded from updates;
//! - `report`, `bench`, `trace`, `compare`: the numbers of a run, the benchmark, Chrome traces and
//!   result files for the Compare view.

pub mod bench;
pub mod compare;
pub mod model;
pub mod report;
pub mod session;
pub mod setup;
pub mod spec;
pub mod trace;
pub mod worker;
