//! Jobs: an array split into chunks, scattered to worker processes (or threads, or async
//! tasks), computed, and gathered: the step from IPC to distributed computing.
//!
//! - `spec`: what a job is (`JobArgs`, the command line; `JobSpec`, checked);
//! - `compute`: items, the mixing function, operations, partial results and the check;
//! - `proto`: the messages between coordinator and workers, as frames;
//! - `worker`: the worker (`ipc-lab job-worker`), and the same as a thread or a tokio task;
//! - `coordinator`: scheduling, fault tolerance, gathering, the outcome;
//! - `sweep`: the job at several worker counts, and as processes, threads and tasks;
//! - `mpi`: the same job under mpirun (`--engine mpi`), folded into the same events and outcome.

pub mod auth;
pub mod compute;
pub mod coordinator;
pub mod model;
pub mod mpi;
pub mod proto;
pub mod say;
pub mod session;
pub mod spec;
pub mod sweep;
pub mod worker;

/// Runs `spec` on the engine it names (`--engine`): our coordinator, or MPI. Both report the same
/// events and the same checked outcome.
pub fn run(
    spec: &spec::JobSpec,
    exe: &std::path::Path,
    commands: Option<&crossbeam::channel::Receiver<coordinator::JobCommand>>,
    emit: &mut dyn FnMut(coordinator::JobEvent),
) -> Result<coordinator::JobOutcome, String> {
    match spec.engine {
        spec::Engine::Ours => coordinator::run(spec, exe, commands, emit),
        spec::Engine::Mpi => mpi::run(spec, exe, commands, emit),
    }
}
