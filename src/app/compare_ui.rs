//! The compare view (issue 6/7): race the mechanisms fairly, through the same code path as
//! `ipc-lab bench`, and plot what came out: latency against size (log–log, p50 and p99), the
//! percentiles at one size, throughput and CPU per message against size, the thread baseline as
//! a reference line. Results are kept with the date and the machine, and earlier or a
//! colleague's result files can be laid over.

use std::path::PathBuf;
use std::sync::Arc;

use egui::RichText;
use egui_plot::{AxisHints, Bar, BarChart, HLine, Legend, Line, Plot};

use crate::mechanism::{MechanismId, ShmWait};
use crate::tr;
use crate::traffic::compare::{Metric, PlacementKind, ResultSet, Runner, Series};
use crate::traffic::spec::{Pattern, RunSpec, human_bytes};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Chart {
    LatencyVsSize,
    Percentiles,
    /// The latency distributions at one size, overlaid.
    Cdf,
    /// Medians at one size, same core against across cores (and unpinned).
    Placement,
    ThroughputVsSize,
    CpuVsSize,
    WakeVsCpu,
}

/// Above this share of all CPUs busy with other work before a comparison, the view warns.
const BUSY_WARNING: f64 = 0.2;

/// What the compare view remembers.
pub struct CompareUi {
    pub mechanisms: Vec<(MechanismId, bool)>,
    /// The size sweep (8 B … 1 MiB, ×4), or just 64 B and 4 KiB.
    pub sweep: bool,
    pub pattern: Pattern,
    pub count: u64,
    /// same-core, cross-core, unpinned: which to run.
    pub placements: [bool; 3],
    pub shm_waits: [bool; 3],
    pub runner: Option<Runner>,
    /// The comparison run here last, and files laid over it.
    pub sets: Vec<ResultSet>,
    pub chart: Chart,
    /// The size the percentile bars show.
    pub bar_size: usize,
    /// The placement they show, when the runs have several.
    pub bar_placement: PlacementKind,
    pub file_path: String,
    pub message: Option<String>,
    /// Where the chart was drawn last frame (points), for a PNG of it.
    pub plot_rect: Option<egui::Rect>,
    /// What came of the last PNG export (the screenshot arrives a frame later).
    pub png_result: Arc<std::sync::Mutex<Option<String>>>,
}

impl Default for CompareUi {
    fn default() -> Self {
        CompareUi {
            mechanisms: MechanismId::ALL.iter().map(|&m| (m, m.availability().is_ok())).collect(),
            sweep: true,
            pattern: Pattern::PingPong,
            count: 2000,
            // One core by default: unpinned runs land on one CPU or two as the scheduler decides,
            // so a single run's numbers jump between a few µs and tens of µs.
            placements: [true, false, false],
            shm_waits: [false, true, false],
            runner: None,
            sets: Vec::new(),
            chart: Chart::LatencyVsSize,
            bar_size: 64,
            bar_placement: PlacementKind::SameCore,
            file_path: "results.json".into(),
            message: None,
            plot_rect: None,
            png_result: Arc::default(),
        }
    }
}

impl CompareUi {
    /// The combinations the choices make, checked as `bench` checks them.
    pub fn specs(&self) -> Result<Vec<RunSpec>, String> {
        let mechanisms: Vec<MechanismId> = self.mechanisms.iter().filter(|(_, on)| *on).map(|(m, _)| *m).collect();
        if mechanisms.is_empty() {
            return Err(crate::tr!("compare.need_mechanism"));
        }
        let sizes: Vec<usize> = if self.sweep { crate::traffic::bench::SWEEP.to_vec() } else { vec![64, 4096] };
        let names = ["same-core", "cross-core", "unpinned"];
        let list: Vec<&str> = names.iter().zip(self.placements).filter(|(_, on)| *on).map(|(n, _)| *n).collect();
        let placements = crate::traffic::bench::parse_placements(&list.join(","))?;
        let waits: Vec<ShmWait> = [ShmWait::Spin, ShmWait::Futex, ShmWait::Semaphore]
            .into_iter()
            .zip(self.shm_waits)
            .filter(|(_, on)| *on)
            .map(|(w, _)| w)
            .collect();
        if waits.is_empty() {
            return Err(crate::tr!("compare.need_wake"));
        }
        let base = RunSpec { pattern: self.pattern, count: self.count, warmup: self.count / 10, ..RunSpec::default() };
        let specs = crate::traffic::bench::combinations(&base, &mechanisms, &sizes, &placements, &waits, false);
        for s in &specs {
            s.validate()?;
        }
        Ok(specs)
    }

    /// Starts the comparison (ending one that runs).
    pub fn start(&mut self, exe: PathBuf, repaint: Arc<dyn Fn() + Send + Sync>) {
        match self.specs() {
            Ok(specs) => match Runner::start(specs, exe, repaint) {
                Ok(r) => {
                    self.runner = Some(r);
                    self.message = None;
                }
                Err(e) => self.message = Some(crate::tr!("compare.cannot_start", why = e.to_string())),
            },
            Err(e) => self.message = Some(e),
        }
    }

    /// The runs of this view's own comparison (finished or going on).
    pub fn own_runs(&self) -> Vec<crate::traffic::report::RunReport> {
        self.runner.as_ref().map(|r| r.state().reports).unwrap_or_default()
    }
}

/// A value's label: 1, 20, 500, 2k, 1M.
fn short(v: f64) -> String {
    if v >= 1e6 {
        format!("{}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{}k", v / 1e3)
    } else if v >= 1.0 {
        format!("{v}")
    } else {
        format!("{v:.2}")
    }
}

/// Grid marks of a log-10 axis at 1, 2 and 5 of every decade, so a range inside one decade still
/// has labels; decades are the major marks.
fn log_marks(input: egui_plot::GridInput) -> Vec<egui_plot::GridMark> {
    let (lo, hi) = input.bounds;
    let mut out = Vec::new();
    for decade in (lo.floor() as i32 - 1)..=(hi.ceil() as i32) {
        for (m, step) in [(1.0f64, 1.0), (2.0, 0.1), (5.0, 0.1)] {
            let v = f64::from(decade) + m.log10();
            if v >= lo && v <= hi {
                out.push(egui_plot::GridMark { value: v, step_size: step });
            }
        }
    }
    out
}

/// A log-10 axis labelled at 1, 2 and 5 of every decade, with the unit.
fn log_axis(label: &str, x: bool) -> AxisHints<'static> {
    let f = |mark: egui_plot::GridMark, _: &std::ops::RangeInclusive<f64>| {
        let v = 10f64.powf(mark.value);
        let mantissa = v / 10f64.powf(mark.value.floor());
        if [1.0, 2.0, 5.0].iter().any(|m| (mantissa - m).abs() < 1e-6) {
            short((v * 1e6).round() / 1e6)
        } else {
            String::new()
        }
    };
    let a = if x { AxisHints::new_x() } else { AxisHints::new_y() };
    a.label(label.to_string()).formatter(f).label_spacing(12.0..=24.0)
}

/// One color per line name, the same in every chart (p50 solid, p99 dashed in that color).
fn color_of(name: &str) -> egui::Color32 {
    const PALETTE: [egui::Color32; 9] = [
        egui::Color32::from_rgb(70, 140, 230),
        egui::Color32::from_rgb(235, 140, 50),
        egui::Color32::from_rgb(90, 190, 110),
        egui::Color32::from_rgb(200, 100, 200),
        egui::Color32::from_rgb(220, 200, 60),
        egui::Color32::from_rgb(80, 200, 200),
        egui::Color32::from_rgb(230, 90, 90),
        egui::Color32::from_rgb(160, 160, 240),
        egui::Color32::from_rgb(185, 140, 95),
    ];
    // By mechanism, in their usual order, so no two share a color.
    let mut i = MechanismId::ALL.iter().position(|m| name.starts_with(m.as_str())).unwrap_or(PALETTE.len() - 1);
    // shm's wake-ups apart: spin, futex and semaphore each their own.
    if name.starts_with("shm (spin") {
        i = 7;
    } else if name.starts_with("shm (semaphore") {
        i = 8;
    }
    PALETTE[i % PALETTE.len()]
}

/// A placement kind in the window's language.
fn kind_words(kind: PlacementKind) -> String {
    match kind {
        PlacementKind::SameCore => tr!("compare.same_core"),
        PlacementKind::CrossCore => tr!("compare.cross_core"),
        PlacementKind::Unpinned => tr!("compare.unpinned"),
    }
}

/// The point shape of a placement kind: circles one core, squares across cores, diamonds unpinned.
fn marker(kind: PlacementKind) -> egui_plot::MarkerShape {
    match kind {
        PlacementKind::SameCore => egui_plot::MarkerShape::Circle,
        PlacementKind::CrossCore => egui_plot::MarkerShape::Square,
        PlacementKind::Unpinned => egui_plot::MarkerShape::Diamond,
    }
}

/// Whether `placements` hold more than one kind (then the charts draw them apart).
fn several(placements: impl IntoIterator<Item = PlacementKind>) -> bool {
    let mut it = placements.into_iter();
    it.next().is_some_and(|first| it.any(|k| k != first))
}

/// Draws `series` on log–log axes; with `markers`, each point's shape says its line's placement.
fn lines(
    plot_ui: &mut egui_plot::PlotUi<'_>,
    series: &[Series],
    suffix: &str,
    dashed: bool,
    overlay: bool,
    markers: bool,
) {
    for s in series {
        let pts: Vec<[f64; 2]> =
            s.points.iter().filter(|(x, y)| *x > 0.0 && *y > 0.0).map(|(x, y)| [x.log10(), y.log10()]).collect();
        // A laid-over file's lines are fainter and thinner than this run's.
        let color = if overlay { color_of(&s.name).gamma_multiply(0.45) } else { color_of(&s.name) };
        // One legend entry per mechanism (egui_plot joins items of one name): its placements are
        // told by the points' shapes and p50 from p99 by the dashes, as the note above says.
        let name = format!("{}{suffix}", s.name);
        if markers {
            let points =
                egui_plot::Points::new(name.clone(), pts.clone()).shape(marker(s.placement)).radius(4.0).color(color);
            plot_ui.points(points);
        }
        let mut line = Line::new(name, pts).color(color).width(if overlay { 1.2 } else { 2.0 });
        if dashed {
            line = line.style(egui_plot::LineStyle::dashed_loose());
        }
        plot_ui.line(line);
    }
}

/// The view: choices on the left, progress, the chart.
pub fn compare_ui(c: &mut CompareUi, exe: &std::path::Path, repaint: &Arc<dyn Fn() + Send + Sync>, ui: &mut egui::Ui) {
    let state = c.runner.as_ref().map(|r| r.state());
    let running = state.as_ref().is_some_and(|s| s.running);
    egui::Panel::left("compare-choices").resizable(false).exact_size(230.0).show(ui, |ui| {
        // The scroll bar always shows, solid (egui's floating one is invisible until hovered): at
        // presenter sizes the file buttons are below the fold.
        ui.spacing_mut().scroll = egui::style::ScrollStyle::solid();
        let scroll =
            egui::ScrollArea::vertical().scroll_bar_visibility(egui::scroll_area::ScrollBarVisibility::AlwaysVisible);
        scroll.show(ui, |ui| {
            ui.add_enabled_ui(!running, |ui| {
                ui.strong(tr!("compare.mechanisms"));
                for (m, on) in c.mechanisms.iter_mut() {
                    ui.add_enabled(m.availability().is_ok(), egui::Checkbox::new(on, m.as_str()));
                }
                ui.strong(tr!("compare.sizes"));
                ui.radio_value(&mut c.sweep, true, tr!("compare.sweep"));
                ui.radio_value(&mut c.sweep, false, tr!("compare.two_sizes"));
                ui.strong(tr!("compare.pattern"));
                ui.radio_value(&mut c.pattern, Pattern::PingPong, tr!("compare.ping_pong"));
                ui.radio_value(&mut c.pattern, Pattern::Stream, tr!("compare.stream"));
                ui.horizontal(|ui| {
                    let l = ui.label(tr!("compare.count"));
                    ui.add(egui::DragValue::new(&mut c.count).range(100..=1_000_000).speed(50.0)).labelled_by(l.id);
                });
                ui.label(RichText::new(tr!("compare.warmup_is", n = c.count / 10)).weak());
                ui.strong(tr!("compare.placement"));
                for (i, name) in
                    [tr!("compare.same_core"), tr!("compare.cross_core"), tr!("compare.unpinned")].iter().enumerate()
                {
                    ui.checkbox(&mut c.placements[i], name.as_str());
                }
                ui.strong(tr!("compare.shm_wake"));
                for (i, name) in [ShmWait::Spin, ShmWait::Futex, ShmWait::Semaphore]
                    .iter()
                    .map(|&w| super::controls_ui::shm_wait_label(w))
                    .enumerate()
                {
                    ui.checkbox(&mut c.shm_waits[i], name);
                }
            });
            ui.separator();
            if running {
                if ui.button(tr!("compare.cancel")).clicked()
                    && let Some(r) = &c.runner
                {
                    r.cancel();
                }
            } else if ui.button(tr!("compare.run")).clicked() {
                c.start(exe.to_path_buf(), repaint.clone());
            }
            ui.separator();
            ui.strong(tr!("compare.files"));
            ui.text_edit_singleline(&mut c.file_path);
            ui.horizontal_wrapped(|ui| {
                if ui.button(tr!("compare.save")).on_hover_text(tr!("compare.save_hint")).clicked() {
                    let runs = c.own_runs();
                    let text = crate::traffic::bench::result_file(&runs, "ipc-lab compare view");
                    c.message = Some(match std::fs::write(&c.file_path, text) {
                        Ok(()) => tr!("compare.saved", n = runs.len(), path = c.file_path),
                        Err(e) => tr!("compare.cannot_save", why = e.to_string()),
                    });
                }
                if ui.button(tr!("compare.load")).clicked() {
                    match ResultSet::load(std::path::Path::new(&c.file_path)) {
                        Ok(set) => {
                            c.message = Some(tr!("compare.loaded", file = set.label, n = set.runs.len()));
                            c.sets.push(set);
                        }
                        Err(e) => c.message = Some(e),
                    }
                }
                if ui.add_enabled(c.plot_rect.is_some(), egui::Button::new(tr!("compare.export_png"))).clicked()
                    && let Some(rect) = c.plot_rect
                {
                    let path = std::path::Path::new(&c.file_path).with_extension("png");
                    let ppp = ui.ctx().pixels_per_point();
                    let result = c.png_result.clone();
                    let repaint = ui.ctx().clone();
                    // Worded here: the screenshot's callback may run where the catalog is English.
                    let wrote = tr!("compare.wrote", path = path.display().to_string());
                    ui.ctx().request_screenshot(move |image| {
                        let text = match write_png(&image, rect, ppp, &path) {
                            Ok((w, h)) => format!("{wrote} ({w}×{h})"),
                            Err(e) => format!("PNG: {e}"),
                        };
                        *result.lock().unwrap_or_else(|p| p.into_inner()) = Some(text);
                        repaint.request_repaint();
                    });
                }
                if ui.button(tr!("compare.export_csv")).clicked() {
                    let path = std::path::Path::new(&c.file_path).with_extension("csv");
                    let text = crate::traffic::bench::render(&c.own_runs(), crate::traffic::bench::Format::Csv);
                    c.message = Some(match std::fs::write(&path, text) {
                        Ok(()) => tr!("compare.wrote", path = path.display().to_string()),
                        Err(e) => tr!("compare.cannot_write", why = e.to_string()),
                    });
                }
            });
            for set in &c.sets {
                let m = set.machine.as_ref().map_or(String::new(), |m| {
                    tr!(
                        "compare.machine",
                        cpu = m.cpu_model.clone(),
                        cpus = m.cpus,
                        kernel = m.kernel.clone(),
                        vm = if m.virtualized { tr!("compare.vm") } else { String::new() }
                    )
                });
                ui.label(RichText::new(format!("{}{m}", set.label)).small());
            }
            if let Some(png) = c.png_result.lock().unwrap_or_else(|p| p.into_inner()).take() {
                c.message = Some(png);
            }
            if let Some(msg) = &c.message {
                ui.label(msg);
            }
            // Progress last, so the buttons above stay where they are when it appears.
            ui.separator();
            if let Some(s) = &state {
                if let Some(busy) = s.busy_before.filter(|b| *b > BUSY_WARNING) {
                    let pct = format!("{:.0}", busy * 100.0);
                    ui.colored_label(ui.visuals().warn_fg_color, tr!("compare.busy", pct = pct));
                }
                ui.label(tr!("compare.progress", done = s.done, total = s.total));
                if s.running {
                    ui.label(tr!("compare.now", what = s.current, sent = s.sent.min(s.per_run), total = s.per_run));
                    ui.add(egui::ProgressBar::new(s.done as f32 / s.total.max(1) as f32));
                } else if s.cancelled {
                    ui.label(tr!("compare.cancelled"));
                }
                for f in &s.failures {
                    ui.colored_label(ui.visuals().warn_fg_color, f);
                }
            }
        });
    });
    // The runs so far, read once this frame.
    let runs = state.map(|s| s.reports).unwrap_or_default();
    egui::CentralPanel::default().show(ui, |ui| chart_ui(c, runs, ui));
}

fn chart_ui(c: &mut CompareUi, runs: Vec<crate::traffic::report::RunReport>, ui: &mut egui::Ui) {
    c.plot_rect = None;
    ui.horizontal_wrapped(|ui| {
        ui.selectable_value(&mut c.chart, Chart::LatencyVsSize, tr!("compare.chart_latency"));
        ui.selectable_value(&mut c.chart, Chart::Percentiles, tr!("compare.chart_percentiles"));
        ui.selectable_value(&mut c.chart, Chart::Cdf, tr!("compare.chart_cdf"));
        ui.selectable_value(&mut c.chart, Chart::Placement, tr!("compare.chart_placement"));
        ui.selectable_value(&mut c.chart, Chart::ThroughputVsSize, tr!("compare.chart_throughput"));
        ui.selectable_value(&mut c.chart, Chart::CpuVsSize, tr!("compare.chart_cpu"));
        ui.selectable_value(&mut c.chart, Chart::WakeVsCpu, tr!("compare.chart_wake"));
    });
    let pattern = c.pattern.as_str();
    let round_trip = c.pattern == Pattern::PingPong;
    let own = ResultSet { label: tr!("compare.this_run"), date_unix: None, machine: None, runs };
    let sets: Vec<&ResultSet> = std::iter::once(&own).chain(c.sets.iter()).collect();
    let suffix = |i: usize, set: &ResultSet| if i == 0 { String::new() } else { format!(" [{}]", set.label) };
    if sets.iter().all(|s| s.runs.is_empty()) {
        ui.add_space(30.0);
        ui.label(RichText::new(tr!("compare.empty")).weak());
        return;
    }
    match c.chart {
        Chart::LatencyVsSize | Chart::ThroughputVsSize | Chart::CpuVsSize => {
            let (metrics, ylabel) = match c.chart {
                Chart::LatencyVsSize => (
                    vec![Metric::P50, Metric::P99],
                    if round_trip { tr!("compare.axis_rtt") } else { tr!("compare.axis_one_way") },
                ),
                Chart::ThroughputVsSize => (
                    vec![Metric::Throughput],
                    if round_trip { tr!("compare.axis_rtt_per_sec") } else { tr!("compare.axis_msgs_per_sec") },
                ),
                _ => (
                    vec![Metric::CpuPerMessage],
                    if round_trip { tr!("compare.axis_cpu_rtt") } else { tr!("compare.axis_cpu_msg") },
                ),
            };
            // Each shown file's lines per metric, made once this frame.
            let per_set: Vec<Vec<(Metric, Vec<Series>)>> = sets
                .iter()
                .map(|s| {
                    metrics.iter().map(|&m| (m, crate::traffic::compare::against_size(&s.runs, pattern, m))).collect()
                })
                .collect();
            let all = || per_set.iter().flatten().flat_map(|(_, series)| series);
            let markers = several(all().map(|s| s.placement));
            let mut note = tr!("compare.vs_size_note", what = ylabel.clone());
            if metrics.len() > 1 {
                note = format!("{note}; {}", tr!("compare.p99_dashed"));
            }
            if markers {
                note = format!("{note}; {}", tr!("compare.markers"));
            }
            if sets.iter().any(|s| s.runs.iter().any(|r| PlacementKind::of(&r.placement) == PlacementKind::Unpinned)) {
                note = format!("{note}. {}", tr!("compare.unpinned_note"));
            }
            ui.label(RichText::new(note).weak());
            // Latency and CPU rise with size and throughput falls: the legend goes to the corner
            // the lines leave empty.
            let corner = if c.chart == Chart::ThroughputVsSize {
                egui_plot::Corner::LeftBottom
            } else {
                egui_plot::Corner::LeftTop
            };
            // Room for the legend where the lines are not: the y range grows by nearly half at the
            // legend's end, so the legend sits in empty space.
            let ys: Vec<f64> =
                all().flat_map(|l| l.points.iter().map(|p| p.1)).filter(|y| *y > 0.0).map(f64::log10).collect();
            let (lo, hi) = ys.iter().fold((f64::MAX, f64::MIN), |(lo, hi), &y| (lo.min(y), hi.max(y)));
            let room = if ys.is_empty() { 0.0 } else { (hi - lo).max(0.5) * 0.45 };
            let headroom = if corner == egui_plot::Corner::LeftBottom { lo - room } else { hi + room };
            let shown = Plot::new("compare-vs-size")
                .x_grid_spacer(log_marks)
                .y_grid_spacer(log_marks)
                .include_y(headroom)
                .legend(Legend::default().position(corner))
                .custom_x_axes(vec![log_axis(&tr!("compare.size_axis"), true)])
                .custom_y_axes(vec![log_axis(&ylabel, false)])
                .show(ui, |plot_ui| {
                    for (i, (set, by_metric)) in sets.iter().zip(&per_set).enumerate() {
                        for (m, series) in by_metric {
                            lines(plot_ui, series, &suffix(i, set), *m == Metric::P99, i > 0, markers);
                        }
                    }
                    // The thread baseline at the smallest size: what a message costs without
                    // crossing a process boundary.
                    let smallest = own.runs.iter().filter(|r| r.mechanism == "thread").map(|r| r.size).min();
                    if c.chart == Chart::LatencyVsSize
                        && let Some(size) = smallest
                        && let Some((b, kind)) =
                            crate::traffic::compare::baseline(&own.runs, pattern, size).filter(|b| b.0 > 0.0)
                    {
                        let name =
                            tr!("compare.baseline", size = human_bytes(size as u64), placement = kind_words(kind));
                        plot_ui.hline(HLine::new(name, b.log10()).color(egui::Color32::GRAY));
                    }
                });
            c.plot_rect = Some(shown.response.rect);
        }
        Chart::WakeVsCpu => {
            let size = own.runs.iter().filter(|r| r.mechanism == "shm").map(|r| r.size).min().unwrap_or(64);
            let points = crate::traffic::compare::wake_vs_cpu(&own.runs, pattern, size);
            if points.is_empty() {
                ui.label(RichText::new(tr!("compare.wake_empty")).weak());
                return;
            }
            let markers = several(points.iter().map(|p| p.1));
            let mut note = tr!("compare.wake_note", size = human_bytes(size as u64));
            if markers {
                note = format!("{note}; {}", tr!("compare.markers"));
            }
            ui.label(RichText::new(note).weak());
            let xlabel = if round_trip { tr!("compare.axis_cpu_rtt") } else { tr!("compare.axis_cpu_msg") };
            // Half a decade of room around the points, so each sits between labelled ticks.
            let logs: Vec<[f64; 2]> =
                points.iter().filter(|p| p.2 > 0.0 && p.3 > 0.0).map(|p| [p.2.log10(), p.3.log10()]).collect();
            let (lo, hi) = logs.iter().fold(([f64::MAX; 2], [f64::MIN; 2]), |(lo, hi), p| {
                ([lo[0].min(p[0]), lo[1].min(p[1])], [hi[0].max(p[0]), hi[1].max(p[1])])
            });
            // Spinning sits low on the left, sleeping high on the right: the legend goes where neither is.
            let shown = Plot::new("compare-wake")
                .legend(Legend::default().position(egui_plot::Corner::LeftTop))
                .x_grid_spacer(log_marks)
                .y_grid_spacer(log_marks)
                .include_x(lo[0] - 0.5)
                .include_x(hi[0] + 0.5)
                .include_y(lo[1] - 0.5)
                .include_y(hi[1] + 0.5)
                .custom_x_axes(vec![log_axis(&xlabel, true)])
                .custom_y_axes(vec![log_axis(&tr!("compare.axis_p50"), false)])
                .show(ui, |plot_ui| {
                    for (name, kind, cpu, p50) in &points {
                        if *cpu > 0.0 && *p50 > 0.0 {
                            let pt = vec![[cpu.log10(), p50.log10()]];
                            // With several placements, each point's name and shape say which.
                            let (label, shape) = if markers {
                                (format!("{name}, {}", kind_words(*kind)), marker(*kind))
                            } else {
                                (name.clone(), egui_plot::MarkerShape::Circle)
                            };
                            let p = egui_plot::Points::new(label, pt).radius(7.0).shape(shape).color(color_of(name));
                            plot_ui.points(p);
                        }
                    }
                });
            c.plot_rect = Some(shown.response.rect);
        }
        Chart::Cdf => {
            size_picker(ui, &mut c.bar_size, &sets);
            let what = if round_trip { tr!("compare.round_trip") } else { tr!("compare.one_way") };
            ui.label(
                RichText::new(tr!("compare.cdf_note", what = what.clone(), size = human_bytes(c.bar_size as u64)))
                    .weak(),
            );
            // Each shown file's distributions, made once this frame.
            let cdfs: Vec<Vec<Series>> =
                sets.iter().map(|s| crate::traffic::compare::cdf_at(&s.runs, pattern, c.bar_size)).collect();
            if cdfs.iter().all(Vec::is_empty) {
                ui.label(RichText::new(tr!("compare.cdf_empty")).weak());
                return;
            }
            let xlabel = format!("{what}, µs");
            let shown = Plot::new("compare-cdf")
                .legend(Legend::default().position(egui_plot::Corner::RightBottom))
                .x_grid_spacer(log_marks)
                .custom_x_axes(vec![log_axis(&xlabel, true)])
                .custom_y_axes(vec![AxisHints::new_y().label(tr!("compare.axis_fraction"))])
                .include_y(0.0)
                .include_y(1.0)
                .show(ui, |plot_ui| {
                    for (i, (set, series)) in sets.iter().zip(&cdfs).enumerate() {
                        for s in series {
                            let points: Vec<[f64; 2]> =
                                s.points.iter().filter(|p| p.0 > 0.0).map(|&(x, y)| [x.log10(), y]).collect();
                            let color = color_of(&s.name);
                            let color = if i > 0 { color.gamma_multiply(0.45) } else { color };
                            // One legend entry per mechanism; the line style says the placement.
                            let name = format!("{}{}", s.name, suffix(i, set));
                            // One style per placement kind, in every shown file alike.
                            let style = match s.placement {
                                PlacementKind::SameCore => egui_plot::LineStyle::Solid,
                                PlacementKind::CrossCore => egui_plot::LineStyle::dashed_dense(),
                                PlacementKind::Unpinned => egui_plot::LineStyle::dotted_dense(),
                            };
                            plot_ui.line(
                                Line::new(name, points)
                                    .color(color)
                                    .width(if i > 0 { 1.2 } else { 2.0 })
                                    .style(style)
                                    // Not merged into a filled band where points crowd a pixel column:
                                    // a distribution rises steeply there.
                                    .allow_band(false),
                            );
                        }
                    }
                });
            c.plot_rect = Some(shown.response.rect);
        }
        Chart::Placement => {
            size_picker(ui, &mut c.bar_size, &[&own]);
            let (placements, rows) = crate::traffic::compare::by_placement(&own.runs, pattern, c.bar_size);
            if placements.len() < 2 {
                ui.label(RichText::new(tr!("compare.placement_empty")).weak());
                return;
            }
            let what = if round_trip { tr!("compare.round_trip") } else { tr!("compare.one_way") };
            let size = human_bytes(c.bar_size as u64);
            let note = if round_trip {
                tr!("compare.placement_note", what = what, size = size)
            } else {
                tr!("compare.placement_note_stream", what = what, size = size)
            };
            ui.label(RichText::new(note).weak());
            let names: Vec<String> = rows.iter().map(|(n, _)| n.clone()).collect();
            let top = rows.iter().flat_map(|(_, m)| m.iter().flatten()).fold(0.1f64, |a, &b| a.max(b));
            let width = 0.8 / placements.len() as f64;
            let shown = bar_plot("compare-placement", names, top, &tr!("compare.axis_p50")).show(ui, |plot_ui| {
                for (k, placement) in placements.iter().enumerate() {
                    let offset = (k as f64 - (placements.len() as f64 - 1.0) / 2.0) * width;
                    let bars: Vec<Bar> = rows
                        .iter()
                        .enumerate()
                        .filter_map(|(i, (line, medians))| {
                            let p50 = medians[k]?;
                            Some(log_bar(i as f64 + offset, p50).width(width * 0.9).name(line))
                        })
                        .collect();
                    plot_ui.bar_chart(BarChart::new(kind_words(*placement), bars));
                }
            });
            c.plot_rect = Some(shown.response.rect);
        }
        Chart::Percentiles => {
            size_picker(ui, &mut c.bar_size, &sets);
            // One placement at a time (the placement chart sets them side by side).
            let all = crate::traffic::compare::percentiles_at(&own.runs, pattern, c.bar_size);
            let kinds: std::collections::BTreeSet<PlacementKind> = all.iter().map(|(_, k, _)| *k).collect();
            if !kinds.contains(&c.bar_placement)
                && let Some(&first) = kinds.first()
            {
                c.bar_placement = first;
            }
            if kinds.len() > 1 {
                ui.horizontal_wrapped(|ui| {
                    ui.label(tr!("compare.placement"));
                    for k in &kinds {
                        ui.selectable_value(&mut c.bar_placement, *k, kind_words(*k));
                    }
                });
            }
            let rows: Vec<(String, [f64; 3])> =
                all.into_iter().filter(|(_, k, _)| *k == c.bar_placement).map(|(n, _, p)| (n, p)).collect();
            ui.label(
                RichText::new(tr!(
                    "compare.bars_note",
                    what = if round_trip { tr!("compare.round_trip") } else { tr!("compare.one_way") },
                    size = human_bytes(c.bar_size as u64)
                ))
                .weak(),
            );
            // How many samples the rarest percentile stands on.
            let per = own.runs.first().map_or(0, |r| r.count);
            ui.label(RichText::new(tr!("compare.p999_note", n = per, k = per / 1000)).weak());
            let names: Vec<String> = rows.iter().map(|(n, _)| n.clone()).collect();
            let top = rows.iter().flat_map(|(_, p)| p.iter()).fold(0.1f64, |a, &b| a.max(b));
            let shown = bar_plot("compare-percentiles", names, top, "µs").show(ui, |plot_ui| {
                for (k, name) in ["p50", "p99", "p99.9"].iter().enumerate() {
                    let bars: Vec<Bar> = rows
                        .iter()
                        .enumerate()
                        .map(|(i, (line, p))| log_bar(i as f64 + (k as f64 - 1.0) * 0.27, p[k]).width(0.25).name(line))
                        .collect();
                    plot_ui.bar_chart(BarChart::new(*name, bars));
                }
            });
            c.plot_rect = Some(shown.response.rect);
        }
    }
}

/// A bar chart on a log y axis: a group of bars at each whole x, named `names` under it (an shm
/// wake-up on a second line, so a group's label fits), and room above the tallest bar (`top`, µs)
/// for the legend.
fn bar_plot(id: &str, names: Vec<String>, top: f64, ylabel: &str) -> Plot<'static> {
    let x_axis = AxisHints::new_x()
        .formatter(move |mark, _| {
            let i = mark.value.round();
            if (mark.value - i).abs() < 1e-6 && i >= 0.0 {
                names.get(i as usize).map(|n| n.replacen(" (", "\n(", 1)).unwrap_or_default()
            } else {
                String::new()
            }
        })
        .label_spacing(10.0..=20.0);
    Plot::new(id)
        .legend(Legend::default())
        .custom_x_axes(vec![x_axis])
        .x_grid_spacer(|input| {
            let (lo, hi) = input.bounds;
            ((lo.ceil() as i64).max(0)..=(hi.floor() as i64))
                .map(|i| egui_plot::GridMark { value: i as f64, step_size: 1.0 })
                .collect()
        })
        .y_grid_spacer(log_marks)
        .include_y(top.log10() + 0.6)
        .custom_y_axes(vec![log_axis(ylabel, false)])
}

/// A bar of `micros` on a log axis, standing on 0.1 µs (so a value under 1 µs still rises).
fn log_bar(x: f64, micros: f64) -> Bar {
    const FLOOR: f64 = -1.0;
    Bar::new(x, micros.max(0.1).log10() - FLOOR).base_offset(FLOOR)
}

/// The sizes the shown runs have, to pick the one a per-size chart shows; keeps the pick on a
/// size that exists.
fn size_picker(ui: &mut egui::Ui, pick: &mut usize, sets: &[&ResultSet]) {
    let mut sizes: Vec<usize> = sets.iter().flat_map(|s| s.runs.iter().map(|r| r.size)).collect();
    sizes.sort_unstable();
    sizes.dedup();
    if !sizes.contains(pick)
        && let Some(&first) = sizes.first()
    {
        *pick = first;
    }
    ui.horizontal_wrapped(|ui| {
        ui.label(tr!("compare.size"));
        for s in &sizes {
            ui.selectable_value(pick, *s, human_bytes(*s as u64));
        }
    });
}

/// Cuts `rect` (points) out of a screenshot taken at `ppp` pixels per point and writes it to
/// `path` as a PNG; its size in pixels.
pub fn write_png(
    image: &egui::ColorImage,
    rect: egui::Rect,
    ppp: f32,
    path: &std::path::Path,
) -> Result<(u32, u32), String> {
    let [iw, ih] = image.size;
    let x0 = ((rect.min.x * ppp).round().max(0.0) as usize).min(iw);
    let y0 = ((rect.min.y * ppp).round().max(0.0) as usize).min(ih);
    let x1 = ((rect.max.x * ppp).round().max(0.0) as usize).min(iw);
    let y1 = ((rect.max.y * ppp).round().max(0.0) as usize).min(ih);
    if x1 <= x0 || y1 <= y0 {
        return Err("the chart is not on screen".into());
    }
    let (w, h) = (x1 - x0, y1 - y0);
    let mut bytes = Vec::with_capacity(w * h * 4);
    for y in y0..y1 {
        for x in x0..x1 {
            bytes.extend_from_slice(&image.pixels[y * iw + x].to_array());
        }
    }
    let file = std::fs::File::create(path).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), w as u32, h as u32);
    enc.set_color(png::ColorType::Rgba);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header().map_err(|e| e.to_string())?;
    writer.write_image_data(&bytes).map_err(|e| e.to_string())?;
    Ok((w as u32, h as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_png_is_the_chart_cut_out_of_the_screenshot() {
        let mut image = egui::ColorImage::filled([40, 30], egui::Color32::BLACK);
        image.pixels[10 * 40 + 20] = egui::Color32::RED; // pixel (20, 10)
        let path = std::env::temp_dir().join(format!("ipclab-test-png-{}.png", std::process::id()));
        // A rect of 5×4 points at (9, 4) at 2 pixels per point: pixels (18..28, 8..16).
        let rect = egui::Rect::from_min_size(egui::pos2(9.0, 4.0), egui::vec2(5.0, 4.0));
        assert_eq!(write_png(&image, rect, 2.0, &path), Ok((10, 8)));
        let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&path).expect("written")));
        let mut reader = decoder.read_info().expect("a PNG");
        let mut buf = vec![0; reader.output_buffer_size().expect("size")];
        let info = reader.next_frame(&mut buf).expect("a frame");
        let _ = std::fs::remove_file(&path);
        assert_eq!((info.width, info.height), (10, 8));
        // The red pixel, now at (2, 2) of the cut.
        assert_eq!(&buf[(2 * 10 + 2) * 4..(2 * 10 + 2) * 4 + 4], &[255, 0, 0, 255]);
        let off = egui::Rect::from_min_size(egui::pos2(100.0, 100.0), egui::vec2(5.0, 5.0));
        assert!(write_png(&image, off, 1.0, &path).is_err());
    }
}
