//! Scenario programs: deadlocks, races and their fixes, written as data (`scenarios/*.json`) and
//! run by real actor processes with real locks, semaphores, pipes and queues.
//!
//! - `spec`: the program files (resources, processes, steps, variants, challenges) and their checks;
//! - `actor`: the child process that runs one program's steps with real calls;
//! - `run`: `ProgramRun`, the supervisor side (start, poll, step, kill, finish) and `ipc-lab run`;
//! - `session`: the thread behind the Programs view that owns a run;
//! - `model`, `waitfor`: what the actors report and the kernel shows, folded (no I/O): states,
//!   the wait-for graph, the verdict;
//! - `say`: those values in words, from the catalog.

#[cfg(target_os = "linux")]
pub mod actor;
pub mod model;
pub mod run;
pub mod say;
pub mod session;
pub mod spec;
pub mod waitfor;
