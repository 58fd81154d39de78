//! IPC Lab: real child processes talking over seven IPC mechanisms, measured honestly.
//!
//! Three kinds of run, one folder each, over shared layers:
//! - [`traffic`]: a pattern of [`wire`] frames over a [`mechanism`] (the live stage, `bench`);
//! - [`programs`]: scenario programs (locks, semaphores, races, deadlocks) run by actor processes;
//! - [`jobs`]: an array scattered to worker processes, computed and gathered.
//!
//! The [`supervisor`] starts every child by re-running this executable; children report
//! [`telemetry`]. See ARCHITECTURE.md for the map.

pub mod accounting;
pub mod app;
pub mod faults;
#[cfg(target_os = "linux")]
pub mod i18n;
#[cfg(target_os = "linux")]
pub mod jobs;
#[cfg(target_os = "linux")]
pub mod lessons;
pub mod mechanism;
pub mod programs;
pub mod supervisor;
#[cfg(target_os = "linux")]
pub mod sync;
pub mod telemetry;
pub mod traffic;
pub mod wire;

// The UI's translation catalog (see `i18n`): a key missing in zh-CN shows the English text.
rust_i18n::i18n!("locales", fallback = "en");
