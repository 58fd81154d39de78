//! The Distributed view's engine: the choice between our coordinator and MPI (shown disabled,
//! with the reason on hover, where this build or machine has no MPI), and the same job's last
//! time on each engine side by side.

use egui::Color32;

use crate::jobs::coordinator::JobOutcome;
use crate::jobs::mpi::Unavailable;
use crate::jobs::spec::{Engine, JobSpec};
use crate::tr;

/// Most jobs remembered (each with its last run on each engine).
const MAX_JOBS: usize = 16;

/// One engine's last run of a job.
#[derive(Clone, Debug, PartialEq)]
pub struct EngineTime {
    pub engine: Engine,
    /// What makes two runs the same job, whatever the engine (`job_key`).
    pub job: String,
    pub elapsed_ns: u64,
    pub rate_bytes_per_sec: f64,
    pub exact: bool,
}

/// The last run of each job on each engine, newest last; bounded.
#[derive(Clone, Debug, Default)]
pub struct EngineTimes {
    pub runs: Vec<EngineTime>,
}

/// The job without how it runs: its workers, schedule, chunks, data, operation, work and
/// shipping. The mechanism, the kind of worker and the engine are how, not what.
pub fn job_key(s: &JobSpec) -> String {
    format!(
        "{} {:?} {} {} {} {} {} {:?}",
        s.workers,
        s.schedule,
        s.chunk,
        s.data.label(),
        s.op.label(),
        s.work,
        s.wait_ms,
        s.ship
    )
}

impl EngineTimes {
    pub fn record(&mut self, o: &JobOutcome) {
        let t = EngineTime {
            engine: o.spec.engine,
            job: job_key(&o.spec),
            elapsed_ns: o.elapsed_ns,
            rate_bytes_per_sec: o.rate_bytes_per_sec(),
            exact: o.exact,
        };
        self.runs.retain(|r| !(r.engine == t.engine && r.job == t.job));
        self.runs.push(t);
        while self.runs.len() > MAX_JOBS * 2 {
            self.runs.remove(0);
        }
    }

    /// This job's last run on each engine, ours first.
    pub fn of(&self, spec: &JobSpec) -> Vec<&EngineTime> {
        let key = job_key(spec);
        let mut rows: Vec<&EngineTime> = self.runs.iter().filter(|r| r.job == key).collect();
        rows.sort_by_key(|r| r.engine != Engine::Ours);
        rows
    }
}

/// Whether MPI can run here, looked up once (a PATH search).
fn mpi_available() -> Result<(), Unavailable> {
    static AVAILABLE: std::sync::OnceLock<Result<(), Unavailable>> = std::sync::OnceLock::new();
    *AVAILABLE.get_or_init(|| crate::jobs::mpi::availability().map(|_| ()))
}

fn engine_word(e: Engine) -> String {
    match e {
        Engine::Ours => tr!("mpi.engine_ours"),
        Engine::Mpi => tr!("mpi.engine_mpi"),
    }
}

/// The engine choice: `engine` is the job line's `--engine` value.
pub fn engine_ui(ui: &mut egui::Ui, engine: &mut String, enabled: bool) {
    ui.label(tr!("mpi.engine")).on_hover_text(tr!("mpi.engine_hint"));
    ui.add_enabled_ui(enabled, |ui| {
        if ui.radio(engine == "ours", engine_word(Engine::Ours)).on_hover_text(tr!("mpi.engine_hint")).clicked() {
            *engine = "ours".into();
        }
        let available = mpi_available();
        let mpi = ui
            .add_enabled(available.is_ok(), egui::RadioButton::new(engine == "mpi", engine_word(Engine::Mpi)))
            .on_hover_text(tr!("mpi.engine_hint"));
        let mpi = match available {
            Err(Unavailable::NotBuilt) => mpi.on_disabled_hover_text(tr!("mpi.not_built")),
            Err(Unavailable::NoMpirun) => mpi.on_disabled_hover_text(tr!("mpi.no_mpirun")),
            Ok(()) => mpi,
        };
        if mpi.clicked() {
            *engine = "mpi".into();
        }
    });
}

/// The job's last time on each engine, when it has run on at least one: engine, time, rate,
/// exact.
pub fn engine_times_ui(times: &EngineTimes, spec: Option<&JobSpec>, ui: &mut egui::Ui) {
    let Some(spec) = spec else { return };
    let rows = times.of(spec);
    if rows.is_empty() {
        return;
    }
    ui.label(egui::RichText::new(tr!("mpi.times_title")).strong()).on_hover_text(tr!("mpi.times_hint"));
    egui::Grid::new("engine-times").striped(true).num_columns(4).show(ui, |ui| {
        for h in [tr!("mpi.t_engine"), tr!("mpi.t_time"), tr!("mpi.t_rate"), tr!("mpi.t_exact")] {
            ui.label(egui::RichText::new(h).weak());
        }
        ui.end_row();
        for r in rows {
            ui.label(engine_word(r.engine));
            ui.label(crate::jobs::say::millis(r.elapsed_ns));
            ui.label(format!("{:.2} GB/s", r.rate_bytes_per_sec / 1e9));
            if r.exact {
                ui.colored_label(Color32::from_rgb(90, 200, 110), "✓");
            } else {
                ui.colored_label(Color32::from_rgb(230, 80, 80), "✗");
            }
            ui.end_row();
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::spec::JobArgs;

    fn spec(line: &str) -> JobSpec {
        JobSpec::from_args(&JobArgs::parse_line(line).unwrap()).unwrap()
    }

    #[test]
    fn the_same_job_on_another_mechanism_or_engine_is_the_same_row_set() {
        let a = spec("--workers 2 --mechanism shm --data range:1000");
        let b = spec("--workers 2 --mechanism pipe --data range:1000");
        let c = spec("--workers 3 --data range:1000");
        assert_eq!(job_key(&a), job_key(&b));
        assert_ne!(job_key(&a), job_key(&c));
    }
}
