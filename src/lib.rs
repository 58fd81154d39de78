//! IPC Lab: real child processes talking over seven IPC mechanisms, measured honestly.
//!
//! The engine is headless: [`supervisor`] starts [`worker`] processes that move [`wire`] frames
//! over a [`mechanism`] and report [`telemetry`]; [`report`] and [`bench`] turn what they report
//! into numbers. See ARCHITECTURE.md for the map.

pub mod accounting;
#[cfg(target_os = "linux")]
pub mod actor;
pub mod app;
pub mod bench;
pub mod compare;
pub mod faults;
#[cfg(target_os = "linux")]
pub mod i18n;
#[cfg(target_os = "linux")]
pub mod lessons;
pub mod mechanism;
pub mod model;
pub mod program;
pub mod program_session;
pub mod report;
pub mod scenario;
pub mod scenario_file;
pub mod session;
pub mod supervisor;
#[cfg(target_os = "linux")]
pub mod sync;
pub mod telemetry;
pub mod trace;
pub mod wire;
pub mod worker;

// The UI's translation catalog (see `i18n`): a key missing in zh-CN shows the English text.
rust_i18n::i18n!("locales", fallback = "en");
