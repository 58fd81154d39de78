//! The compare view (issue 6/7): race the mechanisms fairly, through the same code path as
//! `ipc-lab bench`, and plot what came out: latency against size (log–log, p50 and p99), the
//! percentiles at one size, throughput and CPU per message against size, the thread baseline as
//! a reference line. Results are kept with the date and the machine, and earlier or a
//! colleague's result files can be laid over.

use std::path::PathBuf;
use std::sync::Arc;

use egui::RichText;
use egui_plot::{AxisHints, Bar, BarChart, HLine, HoverPosition, Line, Plot};

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

/// Background (points) an exported chart keeps around its block.
pub const PNG_MARGIN: f32 = 4.0;

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
    /// Where the chart was drawn last frame (points), for a PNG of it: the whole block a reader
    /// sees (title, caption, legend, axes, tick labels and the plot).
    pub plot_rect: Option<egui::Rect>,
    /// The plot's inside alone, last frame (points).
    pub plot_area: Option<egui::Rect>,
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
            plot_area: None,
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

/// What the values of a log axis are, for its tick labels and for the hover text: the plot holds
/// log10 of the value, and a person must read the value itself, with its unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scale {
    /// Microseconds (latency, CPU time): in the unit the value asks for (`i18n::latency_text`).
    Micros,
    /// Payload bytes: ticks 1, 2, 5 × 10^k; hovered, a size (64 B, 4 KiB).
    Bytes,
    /// A rate: ticks 1k, 20k; hovered, every digit, grouped.
    Rate,
}

impl Scale {
    /// A grid mark at `v` (1, 2 or 5 × 10^k).
    fn tick(self, v: f64) -> String {
        match self {
            Scale::Micros => crate::i18n::latency_tick(v * 1e3),
            Scale::Bytes | Scale::Rate => short(v),
        }
    }

    /// A hovered value.
    fn value(self, v: f64) -> String {
        match self {
            Scale::Micros => crate::i18n::latency_text(v * 1e3),
            Scale::Bytes => human_bytes(v.round() as u64),
            Scale::Rate => crate::i18n::grouped(v.round() as u64),
        }
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

/// A log-10 axis labelled at 1, 2 and 5 of every decade, in `scale`'s units (a latency axis
/// reads "500 ns … 2 µs … 1 ms", never "2k" of a µs axis).
fn log_axis(label: &str, x: bool, scale: Scale) -> AxisHints<'static> {
    let f = move |mark: egui_plot::GridMark, _: &std::ops::RangeInclusive<f64>| {
        let v = 10f64.powf(mark.value);
        let mantissa = v / 10f64.powf(mark.value.floor());
        if [1.0, 2.0, 5.0].iter().any(|m| (mantissa - m).abs() < 1e-6) {
            scale.tick((v * 1e6).round() / 1e6)
        } else {
            String::new()
        }
    };
    let a = if x { AxisHints::new_x() } else { AxisHints::new_y() };
    a.label(label.to_string()).formatter(f).label_spacing(12.0..=24.0)
}

/// The hover text of a point on log–log axes: its line's name and both values with their units
/// (`unit` after the y value, for a rate), never the logarithms the plot holds.
fn log_hover(x: Scale, y: Scale, unit: String) -> impl Fn(&HoverPosition<'_>) -> Option<String> {
    move |pos| match pos {
        HoverPosition::NearDataPoint { plot_name, position, .. } => Some(format!(
            "{plot_name}\n{} · {}{unit}",
            x.value(10f64.powf(position.x)),
            y.value(10f64.powf(position.y))
        )),
        HoverPosition::Elsewhere { .. } => None,
    }
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

/// The bars' colors of the percentile chart (p50, p99, p99.9) and of the placement chart (same
/// core, across cores, unpinned): set, so the legend above the chart can show them.
const BAR_COLORS: [egui::Color32; 3] = [
    egui::Color32::from_rgb(70, 140, 230),
    egui::Color32::from_rgb(235, 140, 50),
    egui::Color32::from_rgb(200, 90, 160),
];

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

/// What a legend entry's swatch shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Swatch {
    Line,
    Bar,
    /// A point of this shape (the wake-up chart's placements).
    Point(egui_plot::MarkerShape),
}

/// One legend entry: a swatch of `color` and the name of what is drawn in it.
struct Key {
    name: String,
    color: egui::Color32,
    swatch: Swatch,
}

/// Adds a key unless one of that name is there (egui_plot's legend joined items of one name too).
fn add_key(keys: &mut Vec<Key>, name: String, color: egui::Color32, swatch: Swatch) {
    if !keys.iter().any(|k| k.name == name) {
        keys.push(Key { name, color, swatch });
    }
}

/// The legend as a row of its own above the plot, so it never covers a line or a bar (inside the
/// plot it sat on the data whenever the data reached its corner).
fn legend_ui(ui: &mut egui::Ui, keys: &[Key]) {
    ui.horizontal_wrapped(|ui| {
        let h = ui.text_style_height(&egui::TextStyle::Body);
        for k in keys {
            let (rect, _) = ui.allocate_exact_size(egui::vec2(h * 1.6, h), egui::Sense::hover());
            let p = ui.painter();
            match k.swatch {
                Swatch::Line => {
                    p.line_segment([rect.left_center(), rect.right_center()], egui::Stroke::new(h * 0.18, k.color));
                }
                Swatch::Bar => {
                    let r = rect.shrink2(egui::vec2(h * 0.3, h * 0.1));
                    p.rect_filled(r, 0.0, k.color.linear_multiply(0.4));
                    p.rect_stroke(r, 0.0, egui::Stroke::new(1.5, k.color), egui::StrokeKind::Inside);
                }
                Swatch::Point(egui_plot::MarkerShape::Square) => {
                    p.rect_filled(egui::Rect::from_center_size(rect.center(), egui::vec2(h, h) * 0.55), 0.0, k.color);
                }
                Swatch::Point(egui_plot::MarkerShape::Diamond) => {
                    let (c, r) = (rect.center(), h * 0.35);
                    let corners = vec![
                        c - egui::vec2(0.0, r),
                        c + egui::vec2(r, 0.0),
                        c + egui::vec2(0.0, r),
                        c - egui::vec2(r, 0.0),
                    ];
                    p.add(egui::Shape::convex_polygon(corners, k.color, egui::Stroke::NONE));
                }
                Swatch::Point(_) => {
                    p.circle_filled(rect.center(), h * 0.3, k.color);
                }
            }
            ui.label(&k.name);
            ui.add_space(h * 0.6);
        }
    });
}

/// The color of a line of the `i`th shown file: a laid-over file's lines are fainter.
fn line_color(name: &str, overlay: bool) -> egui::Color32 {
    if overlay { color_of(name).gamma_multiply(0.45) } else { color_of(name) }
}

/// The legend's keys for `series` (one per mechanism, as the lines are named).
fn series_keys(keys: &mut Vec<Key>, series: &[Series], suffix: &str, overlay: bool) {
    for s in series {
        add_key(keys, format!("{}{suffix}", s.name), line_color(&s.name, overlay), Swatch::Line);
    }
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
        let color = line_color(&s.name, overlay);
        // One name (and legend key) per mechanism: its placements are told by the points' shapes
        // and p50 from p99 by the dashes, as the note says.
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
                    // A little of the background around it, so the axis label is not at the edge.
                    let rect = rect.expand(PNG_MARGIN);
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
    let own = ResultSet { label: tr!("compare.this_run"), date_unix: None, machine: None, runs };
    // The numbers under the charts, in a panel of their own: the chart keeps the rest.
    let sets: Vec<&ResultSet> = std::iter::once(&own).chain(c.sets.iter()).collect();
    if sets.iter().any(|s| !s.runs.is_empty()) {
        let shown = egui::Panel::bottom("compare-numbers")
            .resizable(true)
            .min_size(80.0)
            .default_size(ui.available_height() * 0.25)
            .max_size(ui.available_height() * 0.6)
            .show(ui, |ui| numbers_ui(&sets, c.pattern.as_str(), ui));
        if let Some(said) = shown.inner {
            c.message = Some(said);
        }
    }
    egui::CentralPanel::default().show(ui, |ui| chart_ui(c, &own, ui));
}

fn chart_ui(c: &mut CompareUi, own: &ResultSet, ui: &mut egui::Ui) {
    c.plot_rect = None;
    c.plot_area = None;
    let charts = [
        (Chart::LatencyVsSize, tr!("compare.chart_latency")),
        (Chart::Percentiles, tr!("compare.chart_percentiles")),
        (Chart::Cdf, tr!("compare.chart_cdf")),
        (Chart::Placement, tr!("compare.chart_placement")),
        (Chart::ThroughputVsSize, tr!("compare.chart_throughput")),
        (Chart::CpuVsSize, tr!("compare.chart_cpu")),
        (Chart::WakeVsCpu, tr!("compare.chart_wake")),
    ];
    ui.horizontal_wrapped(|ui| {
        for (chart, name) in &charts {
            ui.selectable_value(&mut c.chart, *chart, name.as_str());
        }
    });
    let title = charts.iter().find(|(k, _)| *k == c.chart).map(|(_, n)| n.clone()).unwrap_or_default();
    let pattern = c.pattern.as_str();
    let round_trip = c.pattern == Pattern::PingPong;
    let latency_label = if round_trip { tr!("compare.axis_latency_rtt") } else { tr!("compare.axis_latency_one_way") };
    let sets: Vec<&ResultSet> = std::iter::once(own).chain(c.sets.iter()).collect();
    let suffix = |i: usize, set: &ResultSet| if i == 0 { String::new() } else { format!(" [{}]", set.label) };
    let Some(&main) = sets.iter().find(|s| !s.runs.is_empty()) else {
        ui.add_space(30.0);
        ui.label(RichText::new(tr!("compare.empty")).weak());
        return;
    };
    // The charts of one result (percentiles, placements, wake-ups) show this run's, or, when
    // nothing ran here, the first file's, and the title says which.
    let title = if std::ptr::eq(main, own) { title } else { format!("{title} [{}]", main.label) };
    match c.chart {
        Chart::LatencyVsSize | Chart::ThroughputVsSize | Chart::CpuVsSize => {
            let (metrics, ylabel, scale, unit) = match c.chart {
                Chart::LatencyVsSize => (
                    vec![Metric::P50, Metric::P99],
                    if round_trip { tr!("compare.axis_rtt") } else { tr!("compare.axis_one_way") },
                    Scale::Micros,
                    String::new(),
                ),
                Chart::ThroughputVsSize => (
                    vec![Metric::Throughput],
                    if round_trip { tr!("compare.axis_rtt_per_sec") } else { tr!("compare.axis_msgs_per_sec") },
                    Scale::Rate,
                    format!(" {}", if round_trip { tr!("compare.col_rtps") } else { tr!("compare.col_msgs") }),
                ),
                _ => (
                    vec![Metric::CpuPerMessage],
                    if round_trip { tr!("compare.axis_cpu_rtt") } else { tr!("compare.axis_cpu_msg") },
                    Scale::Micros,
                    String::new(),
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
            let mut keys = Vec::new();
            for (i, (set, by_metric)) in sets.iter().zip(&per_set).enumerate() {
                for (_, series) in by_metric {
                    series_keys(&mut keys, series, &suffix(i, set), i > 0);
                }
            }
            // The thread baseline at the smallest size: what a message costs without crossing a
            // process boundary.
            let smallest = own.runs.iter().filter(|r| r.mechanism == "thread").map(|r| r.size).min();
            let baseline = smallest
                .filter(|_| c.chart == Chart::LatencyVsSize)
                .and_then(|size| {
                    crate::traffic::compare::baseline(&own.runs, pattern, size).filter(|b| b.0 > 0.0).map(|b| (size, b))
                })
                .map(|(size, (b, kind))| {
                    let name = tr!("compare.baseline", size = human_bytes(size as u64), placement = kind_words(kind));
                    add_key(&mut keys, name.clone(), egui::Color32::GRAY, Swatch::Line);
                    (name, b)
                });
            (c.plot_rect, c.plot_area) = chart_block(ui, &title, &[note], &keys, |ui| {
                let shown = Plot::new("compare-vs-size")
                    .x_grid_spacer(log_marks)
                    .y_grid_spacer(log_marks)
                    .label_formatter(log_hover(Scale::Bytes, scale, unit))
                    .custom_x_axes(vec![log_axis(&tr!("compare.size_axis"), true, Scale::Bytes)])
                    .custom_y_axes(vec![log_axis(&ylabel, false, scale)])
                    .show(ui, |plot_ui| {
                        for (i, (set, by_metric)) in sets.iter().zip(&per_set).enumerate() {
                            for (m, series) in by_metric {
                                lines(plot_ui, series, &suffix(i, set), *m == Metric::P99, i > 0, markers);
                            }
                        }
                        if let Some((name, b)) = baseline {
                            plot_ui.hline(HLine::new(name, b.log10()).color(egui::Color32::GRAY));
                        }
                    });
                shown.response.rect
            });
        }
        Chart::WakeVsCpu => {
            let size = main.runs.iter().filter(|r| r.mechanism == "shm").map(|r| r.size).min().unwrap_or(64);
            let points = crate::traffic::compare::wake_vs_cpu(&main.runs, pattern, size);
            if points.is_empty() {
                ui.label(RichText::new(tr!("compare.wake_empty")).weak());
                return;
            }
            let markers = several(points.iter().map(|p| p.1));
            let mut note = tr!("compare.wake_note", size = human_bytes(size as u64));
            if markers {
                note = format!("{note}; {}", tr!("compare.markers"));
            }
            let xlabel = if round_trip { tr!("compare.axis_cpu_rtt") } else { tr!("compare.axis_cpu_msg") };
            // Half a decade of room around the points, so each sits between labelled ticks.
            let logs: Vec<[f64; 2]> =
                points.iter().filter(|p| p.2 > 0.0 && p.3 > 0.0).map(|p| [p.2.log10(), p.3.log10()]).collect();
            let (lo, hi) = logs.iter().fold(([f64::MAX; 2], [f64::MIN; 2]), |(lo, hi), p| {
                ([lo[0].min(p[0]), lo[1].min(p[1])], [hi[0].max(p[0]), hi[1].max(p[1])])
            });
            // With several placements, each point's name and shape say which.
            let label = |name: &str, kind: PlacementKind| {
                if markers { format!("{name}, {}", kind_words(kind)) } else { name.to_string() }
            };
            let mut keys = Vec::new();
            for (name, kind, _, _) in &points {
                let shape = if markers { marker(*kind) } else { egui_plot::MarkerShape::Circle };
                add_key(&mut keys, label(name, *kind), color_of(name), Swatch::Point(shape));
            }
            let hover = |pos: &HoverPosition<'_>| match pos {
                HoverPosition::NearDataPoint { plot_name, position, .. } => Some(format!(
                    "{plot_name}\n{}",
                    tr!(
                        "compare.hover_wake",
                        cpu = Scale::Micros.value(10f64.powf(position.x)),
                        p50 = Scale::Micros.value(10f64.powf(position.y))
                    )
                )),
                HoverPosition::Elsewhere { .. } => None,
            };
            (c.plot_rect, c.plot_area) = chart_block(ui, &title, &[note], &keys, |ui| {
                let shown = Plot::new("compare-wake")
                    .x_grid_spacer(log_marks)
                    .y_grid_spacer(log_marks)
                    .include_x(lo[0] - 0.5)
                    .include_x(hi[0] + 0.5)
                    .include_y(lo[1] - 0.5)
                    .include_y(hi[1] + 0.5)
                    .label_formatter(hover)
                    .custom_x_axes(vec![log_axis(&xlabel, true, Scale::Micros)])
                    .custom_y_axes(vec![log_axis(&tr!("compare.axis_p50"), false, Scale::Micros)])
                    .show(ui, |plot_ui| {
                        for (name, kind, cpu, p50) in &points {
                            if *cpu > 0.0 && *p50 > 0.0 {
                                let pt = vec![[cpu.log10(), p50.log10()]];
                                let shape = if markers { marker(*kind) } else { egui_plot::MarkerShape::Circle };
                                let p = egui_plot::Points::new(label(name, *kind), pt)
                                    .radius(7.0)
                                    .shape(shape)
                                    .color(color_of(name));
                                plot_ui.points(p);
                            }
                        }
                    });
                shown.response.rect
            });
        }
        Chart::Cdf => {
            size_picker(ui, &mut c.bar_size, &sets);
            let what = if round_trip { tr!("compare.round_trip") } else { tr!("compare.one_way") };
            let note = tr!("compare.cdf_note", what = what, size = human_bytes(c.bar_size as u64));
            // Each shown file's distributions, made once this frame.
            let cdfs: Vec<Vec<Series>> =
                sets.iter().map(|s| crate::traffic::compare::cdf_at(&s.runs, pattern, c.bar_size)).collect();
            if cdfs.iter().all(Vec::is_empty) {
                ui.label(RichText::new(tr!("compare.cdf_empty")).weak());
                return;
            }
            let mut keys = Vec::new();
            for (i, (set, series)) in sets.iter().zip(&cdfs).enumerate() {
                series_keys(&mut keys, series, &suffix(i, set), i > 0);
            }
            let hover = |pos: &HoverPosition<'_>| match pos {
                HoverPosition::NearDataPoint { plot_name, position, .. } => Some(format!(
                    "{plot_name}\n{}",
                    tr!(
                        "compare.hover_cdf",
                        latency = Scale::Micros.value(10f64.powf(position.x)),
                        share = percent(position.y)
                    )
                )),
                HoverPosition::Elsewhere { .. } => None,
            };
            let y_axis = AxisHints::new_y().label(tr!("compare.axis_fraction")).formatter(|mark, _| {
                let decimals = if mark.step_size >= 0.01 { 0 } else { 1 };
                format!("{:.*} %", decimals, mark.value * 100.0)
            });
            (c.plot_rect, c.plot_area) = chart_block(ui, &title, &[note], &keys, |ui| {
                let shown = Plot::new("compare-cdf")
                    .x_grid_spacer(log_marks)
                    .label_formatter(hover)
                    .custom_x_axes(vec![log_axis(&latency_label, true, Scale::Micros)])
                    .custom_y_axes(vec![y_axis])
                    .include_y(0.0)
                    .include_y(1.0)
                    .show(ui, |plot_ui| {
                        for (i, (set, series)) in sets.iter().zip(&cdfs).enumerate() {
                            for s in series {
                                let points: Vec<[f64; 2]> =
                                    s.points.iter().filter(|p| p.0 > 0.0).map(|&(x, y)| [x.log10(), y]).collect();
                                // One legend entry per mechanism; the line style says the placement,
                                // one style per placement kind, in every shown file alike.
                                let name = format!("{}{}", s.name, suffix(i, set));
                                let style = match s.placement {
                                    PlacementKind::SameCore => egui_plot::LineStyle::Solid,
                                    PlacementKind::CrossCore => egui_plot::LineStyle::dashed_dense(),
                                    PlacementKind::Unpinned => egui_plot::LineStyle::dotted_dense(),
                                };
                                plot_ui.line(
                                    Line::new(name, points)
                                        .color(line_color(&s.name, i > 0))
                                        .width(if i > 0 { 1.2 } else { 2.0 })
                                        .style(style)
                                        // Not merged into a filled band where points crowd a pixel
                                        // column: a distribution rises steeply there.
                                        .allow_band(false),
                                );
                            }
                        }
                    });
                shown.response.rect
            });
        }
        Chart::Placement => {
            size_picker(ui, &mut c.bar_size, &[main]);
            let (placements, rows) = crate::traffic::compare::by_placement(&main.runs, pattern, c.bar_size);
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
            let names: Vec<String> = rows.iter().map(|(n, _)| n.clone()).collect();
            let top = rows.iter().flat_map(|(_, m)| m.iter().flatten()).fold(0.1f64, |a, &b| a.max(b));
            let width = 0.8 / placements.len() as f64;
            let keys: Vec<Key> = placements
                .iter()
                .map(|p| Key { name: kind_words(*p), color: placement_color(*p), swatch: Swatch::Bar })
                .collect();
            (c.plot_rect, c.plot_area) = chart_block(ui, &title, &[note], &keys, |ui| {
                let plot = bar_plot("compare-placement", names, top, &tr!("compare.axis_p50"));
                let shown = plot.show(ui, |plot_ui| {
                    for (k, placement) in placements.iter().enumerate() {
                        let offset = (k as f64 - (placements.len() as f64 - 1.0) / 2.0) * width;
                        let bars: Vec<(f64, f64, String)> = rows
                            .iter()
                            .enumerate()
                            .filter_map(|(i, (line, medians))| Some((i as f64 + offset, medians[k]?, line.clone())))
                            .collect();
                        let name = kind_words(*placement);
                        plot_ui.bar_chart(log_bars(name, placement_color(*placement), width * 0.9, bars));
                    }
                });
                shown.response.rect
            });
        }
        Chart::Percentiles => {
            size_picker(ui, &mut c.bar_size, &sets);
            // One placement at a time (the placement chart sets them side by side).
            let all = crate::traffic::compare::percentiles_at(&main.runs, pattern, c.bar_size);
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
            let what = if round_trip { tr!("compare.round_trip") } else { tr!("compare.one_way") };
            let mut notes = vec![tr!("compare.bars_note", what = what, size = human_bytes(c.bar_size as u64))];
            if kinds.len() > 1 {
                notes[0] = format!("{}; {}", notes[0], kind_words(c.bar_placement));
            }
            // How many samples the rarest percentile stands on.
            let per = main.runs.first().map_or(0, |r| r.count);
            notes.push(tr!("compare.p999_note", n = per, k = per / 1000));
            let names: Vec<String> = rows.iter().map(|(n, _)| n.clone()).collect();
            let top = rows.iter().flat_map(|(_, p)| p.iter()).fold(0.1f64, |a, &b| a.max(b));
            const PERCENTILES: [&str; 3] = ["p50", "p99", "p99.9"];
            let keys: Vec<Key> = PERCENTILES
                .iter()
                .zip(BAR_COLORS)
                .map(|(p, color)| Key { name: p.to_string(), color, swatch: Swatch::Bar })
                .collect();
            (c.plot_rect, c.plot_area) = chart_block(ui, &title, &notes, &keys, |ui| {
                let shown = bar_plot("compare-percentiles", names, top, &latency_label).show(ui, |plot_ui| {
                    for (k, name) in PERCENTILES.iter().enumerate() {
                        let bars: Vec<(f64, f64, String)> = rows
                            .iter()
                            .enumerate()
                            .map(|(i, (line, p))| (i as f64 + (k as f64 - 1.0) * 0.27, p[k], line.clone()))
                            .collect();
                        plot_ui.bar_chart(log_bars(name.to_string(), BAR_COLORS[k], 0.25, bars));
                    }
                });
                shown.response.rect
            });
        }
    }
}

/// The chart as a reader sees it, as one block: title, caption, legend, then the plot with its
/// axes and tick labels. Export PNG writes this whole block: its rect, then the rect of the plot's
/// inside (which `plot` returns).
fn chart_block(
    ui: &mut egui::Ui,
    title: &str,
    caption: &[String],
    keys: &[Key],
    plot: impl FnOnce(&mut egui::Ui) -> egui::Rect,
) -> (Option<egui::Rect>, Option<egui::Rect>) {
    let block = ui.scope(|ui| {
        ui.label(RichText::new(title).strong().heading());
        for line in caption {
            ui.label(RichText::new(line).weak());
        }
        legend_ui(ui, keys);
        plot(ui)
    });
    (Some(block.response.rect), Some(block.inner))
}

/// A share (0..1) as a percentage, with a decimal where a tail needs it (99.9 %).
fn percent(share: f64) -> String {
    let pct = share * 100.0;
    if (pct - pct.round()).abs() < 1e-9 { format!("{pct:.0} %") } else { format!("{pct:.2} %") }
}

/// A placement kind's bar color.
fn placement_color(kind: PlacementKind) -> egui::Color32 {
    match kind {
        PlacementKind::SameCore => BAR_COLORS[0],
        PlacementKind::CrossCore => BAR_COLORS[1],
        PlacementKind::Unpinned => BAR_COLORS[2],
    }
}

/// A bar chart on a log y axis: a group of bars at each whole x, named `names` under it (an shm
/// wake-up on a second line, so a group's label fits), and a little room above the tallest bar
/// (`top`, µs).
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
        .custom_x_axes(vec![x_axis])
        .x_grid_spacer(|input| {
            let (lo, hi) = input.bounds;
            ((lo.ceil() as i64).max(0)..=(hi.floor() as i64))
                .map(|i| egui_plot::GridMark { value: i as f64, step_size: 1.0 })
                .collect()
        })
        .y_grid_spacer(log_marks)
        .include_y(top.log10() + 0.2)
        .custom_y_axes(vec![log_axis(ylabel, false, Scale::Micros)])
}

/// The floor log bars stand on: 0.1 µs (so a value under 1 µs still rises).
const BAR_FLOOR: f64 = -1.0;

/// A bar of `micros` on a log axis, standing on `BAR_FLOOR`.
fn log_bar(x: f64, micros: f64) -> Bar {
    Bar::new(x, micros.max(0.1).log10() - BAR_FLOOR).base_offset(BAR_FLOOR)
}

/// A bar chart `name` of latencies on a log axis, `bars` as (x, µs, line name): hovering a bar
/// says its line, the chart's name and the latency in its unit ("pipe · p50, 7.10 µs"), never
/// the logarithm the bar's height is.
fn log_bars(name: String, color: egui::Color32, width: f64, bars: Vec<(f64, f64, String)>) -> BarChart {
    let values: Vec<(f64, f64)> = bars.iter().map(|(x, us, _)| (*x, *us)).collect();
    let drawn: Vec<Bar> = bars.into_iter().map(|(x, us, line)| log_bar(x, us).width(width).name(line)).collect();
    let chart = name.clone();
    BarChart::new(name, drawn).color(color).element_formatter(Box::new(move |bar, _| {
        let us = values.iter().find(|(x, _)| (x - bar.argument).abs() < 1e-9).map_or(f64::NAN, |v| v.1);
        bar_hover(&bar.name, &chart, us)
    }))
}

/// A hovered bar's words: its line, its chart (p50, a placement) and its value.
fn bar_hover(line: &str, chart: &str, micros: f64) -> String {
    format!("{line} · {chart}\n{}", Scale::Micros.value(micros))
}

/// The numbers behind the charts, as `ipc-lab bench` prints them: a row per run of the shown
/// pattern in every shown result (this run's, then laid-over files), latencies in the one unit
/// rule of every screen, throughput as bench counts it. The first row is the header.
pub fn numbers_rows(sets: &[&ResultSet], pattern: &str) -> Vec<Vec<String>> {
    let round_trip = pattern == Pattern::PingPong.as_str();
    let shown: Vec<(&str, &crate::traffic::report::RunReport)> = sets
        .iter()
        .flat_map(|s| s.runs.iter().filter(|r| r.pattern == pattern).map(move |r| (s.label.as_str(), r)))
        .collect();
    // A column says which result a row is from only when there are several; the placement, only
    // when the runs differ in it (as bench's table does).
    let files = shown.iter().any(|(label, _)| *label != shown[0].0);
    let placements = several(shown.iter().map(|(_, r)| PlacementKind::of(&r.placement)));
    let mut header = Vec::new();
    if files {
        header.push(tr!("compare.col_result"));
    }
    header.extend([tr!("compare.col_mechanism"), tr!("compare.col_size")]);
    if placements {
        header.push(tr!("compare.col_placement"));
    }
    header.push(tr!("compare.col_count"));
    header.extend(["p50", "p90", "p99", "p99.9"].map(String::from));
    header.extend([tr!("compare.col_max"), tr!("compare.col_mean")]);
    header.push(if round_trip { tr!("compare.col_rtps") } else { tr!("compare.col_msgs") });
    header.push("MB/s".into());
    let mut rows = vec![header];
    for (label, r) in shown {
        let mut row = Vec::new();
        if files {
            row.push(label.to_string());
        }
        row.extend([crate::traffic::compare::line_name(r), human_bytes(r.size as u64)]);
        if placements {
            row.push(kind_words(PlacementKind::of(&r.placement)));
        }
        row.push(crate::i18n::grouped(r.count));
        let l = r.rtt_ns.or(r.one_way_ns);
        let ns = |f: fn(&crate::traffic::report::LatencyNanos) -> f64| {
            l.as_ref().map_or("–".into(), |l| crate::i18n::latency_text(f(l)))
        };
        row.extend([
            ns(|l| l.p50 as f64),
            ns(|l| l.p90 as f64),
            ns(|l| l.p99 as f64),
            ns(|l| l.p999 as f64),
            ns(|l| l.max as f64),
            ns(|l| l.mean),
        ]);
        row.push(crate::i18n::grouped(r.msgs_per_sec.round() as u64));
        row.push(format!("{:.1}", r.bytes_per_sec / 1e6));
        rows.push(row);
    }
    rows
}

/// `rows` as tab-separated lines, as a spreadsheet pastes them.
pub fn tab_separated(rows: &[Vec<String>]) -> String {
    rows.iter().map(|r| r.join("\t") + "\n").collect()
}

/// The table under the charts: every shown run's numbers, selectable, and a button that puts
/// them on the clipboard as tab-separated text. What the button did, for the message line.
fn numbers_ui(sets: &[&ResultSet], pattern: &str, ui: &mut egui::Ui) -> Option<String> {
    let rows = numbers_rows(sets, pattern);
    let mut said = None;
    ui.horizontal_wrapped(|ui| {
        ui.strong(tr!("compare.numbers"));
        let what = if pattern == Pattern::PingPong.as_str() {
            tr!("compare.axis_latency_rtt")
        } else {
            tr!("compare.axis_latency_one_way")
        };
        ui.label(RichText::new(tr!("compare.numbers_note", what = what)).weak());
        if ui.add_enabled(rows.len() > 1, egui::Button::new(tr!("compare.copy_table"))).clicked() {
            ui.ctx().copy_text(tab_separated(&rows));
            said = Some(tr!("compare.copied", n = rows.len() - 1));
        }
    });
    if rows.len() <= 1 {
        ui.label(RichText::new(tr!("compare.numbers_empty")).weak());
        return said;
    }
    // The whole panel, so it keeps the height it was given (and dragged to).
    egui::ScrollArea::both().auto_shrink([false, false]).show(ui, |ui| {
        // Numbers to the right (their heads too), so their units line up down a column.
        let numeric: Vec<bool> = rows[1].iter().map(|c| c.starts_with(|c: char| c.is_ascii_digit())).collect();
        egui::Grid::new("compare-numbers-grid").striped(true).num_columns(rows[0].len() + 1).show(ui, |ui| {
            for (i, row) in rows.iter().enumerate() {
                for (cell, right) in row.iter().zip(&numeric) {
                    let text = if i == 0 { RichText::new(cell).strong() } else { RichText::new(cell).monospace() };
                    if *right {
                        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| ui.label(text));
                    } else {
                        ui.label(text);
                    }
                }
                // An empty last column takes the rest of the row, so the last numbers stay by
                // their neighbours instead of at the panel's far edge.
                ui.label("");
                ui.end_row();
            }
        });
    });
    said
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
