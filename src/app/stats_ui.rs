//! Live statistics with the meanings `ipc-lab bench` gives them: latency percentiles (round trip
//! in ping-pong, one-way otherwise), throughput (round trips/s or deliveries/s), the delivery
//! accounting (zeros shown, since a zero is the point), telemetry dropped, and two plots: the
//! latency histogram and latency over time, holding the same kind of latency as the rows above.

use egui::RichText;
use egui_plot::{AxisHints, Bar, BarChart, GridInput, GridMark, Plot, Points};

use super::stage_ui::thousands;
use crate::tr;
use crate::traffic::model::{LiveHistogram, Model, RunStatus};
use crate::traffic::session::Pace;

/// A latency in the one unit rule of every screen (`i18n::latency_text`).
fn latency(nanos: u64) -> String {
    crate::i18n::latency_text(nanos as f64)
}

/// A rate for people: decimals where they matter (slow motion runs at a fraction of one a second).
pub fn rate_text(per_sec: f64) -> String {
    if per_sec <= 0.0 {
        "0".into()
    } else if per_sec < 10.0 {
        format!("{per_sec:.2}")
    } else if per_sec < 100.0 {
        format!("{per_sec:.1}")
    } else {
        thousands(per_sec.round() as u64)
    }
}

/// Bytes per second in decimal units, as `bench` prints MB/s.
pub fn bytes_rate_text(per_sec: f64) -> String {
    if per_sec < 1e3 {
        format!("{} B/s", rate_text(per_sec))
    } else if per_sec < 1e6 {
        format!("{:.1} kB/s", per_sec / 1e3)
    } else {
        format!("{:.1} MB/s", per_sec / 1e6)
    }
}

/// The histogram's x axis: decades of microseconds, log10 of the value.
const DECADES: [&str; 7] = ["1 µs", "10 µs", "100 µs", "1 ms", "10 ms", "100 ms", "1 s"];

/// About four grid marks at 1, 2 or 5 × 10^k (egui_plot's default only uses powers of ten, so a
/// short plot of 0..7000 µs showed no number but 0).
fn nice_marks(input: GridInput) -> Vec<GridMark> {
    let (lo, hi) = input.bounds;
    let span = (hi - lo).abs().max(1e-9);
    let raw = span / 4.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * magnitude).find(|s| *s >= raw).unwrap_or(10.0 * magnitude);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last).map(|i| GridMark { value: i as f64 * step, step_size: step }).collect()
}

/// A grid mark's number with as many decimals as its step needs (0.5 must not read "0").
fn nice_label(mark: GridMark, _range: &std::ops::RangeInclusive<f64>) -> String {
    let decimals = if mark.step_size >= 1.0 { 0 } else { (-mark.step_size.log10()).ceil() as usize };
    format!("{:.*}", decimals, mark.value)
}

pub fn stats_ui(model: &Model, now_nanos: u64, ui: &mut egui::Ui) {
    let bottom = ui.max_rect().bottom();
    egui::ScrollArea::vertical().show(ui, |ui| {
        // Rows wrap to the panel's width rather than push it wider than it is.
        ui.set_max_width(ui.available_width());
        ui.heading(tr!("stats.heading"));
        let kind = model.latency_kind();
        let round_trip = kind == "round trip";
        let kind_title = if round_trip { tr!("stats.title_round_trip") } else { tr!("stats.title_one_way") };
        let paced = match model.pace {
            Pace::RealTime => None,
            Pace::SlowMotion { .. } => Some(tr!("stats.paced_slow")),
            Pace::Step => Some(tr!("stats.paced_step")),
        };
        let what = kind_text(model.latency().map_or(kind, |(_, k)| k));
        let hint = if round_trip {
            tr!("stats.every_hint_round_trip", kind = what)
        } else {
            tr!("stats.every_hint_one_way", kind = what)
        };
        ui.strong(tr!("stats.every", kind = kind_title)).on_hover_text(hint);
        ui.horizontal_wrapped(|ui| match model.latency() {
            Some((l, _)) => {
                ui.label("p50");
                ui.label(RichText::new(latency(l.p50)).strong());
                ui.label("· p99");
                ui.label(latency(l.p99));
                ui.label(tr!("stats.max"));
                ui.label(latency(l.max));
            }
            None => {
                ui.weak(tr!("stats.waiting"));
            }
        });
        if let Some(p) = paced {
            ui.label(RichText::new(tr!("stats.latency_paced", what = p)).weak());
        }
        let t = model.throughput(now_nanos);
        let round_trips = t.unit == "round trips/s";
        ui.strong(tr!("stats.throughput")).on_hover_text(if round_trips {
            tr!("stats.throughput_hint_round_trip")
        } else {
            tr!("stats.throughput_hint_one_way")
        });
        let unit = if round_trips { tr!("stats.unit_round_trips") } else { tr!("stats.unit_msgs") };
        let average = if t.run_average { tr!("stats.run_average") } else { String::new() };
        ui.label(format!("{} {unit} · {}{average}", rate_text(t.per_sec), bytes_rate_text(t.bytes_per_sec)));
        if t.run_average {
            // Same formula as bench, not the same conditions: say which differ.
            ui.label(RichText::new(tr!("stats.bench_note")).weak());
        }
        ui.add_space(6.0);
        let c = model.counts();
        let finished = match &model.status {
            RunStatus::Finished(Ok(r)) => Some(r),
            _ => None,
        };
        // With fault injection on, what the producers injected stands beside what the receivers
        // detected, so a student can check the one against the other.
        let faults_on = model.spec.as_ref().is_some_and(|s| !s.faults.is_none());
        let injected = finished.map_or_else(|| model.injected(), |r| r.injected);
        egui::Grid::new("accounting").num_columns(if faults_on { 3 } else { 2 }).striped(true).show(ui, |ui| {
            if faults_on {
                ui.label("");
                ui.label(RichText::new(tr!("stats.detected")).weak());
                ui.label(RichText::new(tr!("stats.injected")).weak()).on_hover_text(tr!("stats.injected_hint"));
                ui.end_row();
            }
            let mut row = |k: String, v: u64, hint: String, bad: bool, inj: Option<u64>| {
                ui.label(k).on_hover_text(hint);
                let t = RichText::new(thousands(v)).monospace();
                // Red is for damage nobody asked for; injected faults are expected.
                ui.label(if bad && v > 0 && !faults_on { t.color(ui.visuals().error_fg_color) } else { t });
                if faults_on {
                    ui.label(inj.map_or(RichText::new(""), |n| RichText::new(thousands(n)).monospace()));
                }
                ui.end_row();
            };
            // With several links the counts are frames on all of them (a 16-message pipeline of
            // three links sends 48): the labels say so.
            let links = model.topology.as_ref().map_or(1, |t| t.links.len());
            if links > 1 {
                row(tr!("stats.sent_links", n = links), c.sent, tr!("stats.sent_hint"), false, None);
                row(tr!("stats.received_links", n = links), c.received, tr!("stats.received_hint"), false, None);
            } else {
                row(tr!("stats.sent"), c.sent, tr!("stats.sent_hint"), false, None);
                row(tr!("stats.received"), c.received, tr!("stats.received_hint"), false, None);
            }
            match finished {
                Some(r) => row(tr!("stats.lost"), r.lost, tr!("stats.lost_hint"), true, Some(injected.dropped)),
                None => row(
                    tr!("stats.in_flight"),
                    c.not_arrived,
                    tr!("stats.in_flight_hint"),
                    false,
                    Some(injected.dropped),
                ),
            }
            row(tr!("stats.duplicated"), c.duplicated, tr!("stats.duplicated_hint"), true, Some(injected.duplicated));
            row(
                tr!("stats.out_of_order"),
                c.out_of_order,
                tr!("stats.out_of_order_hint"),
                true,
                Some(injected.reordered),
            );
            row(tr!("stats.corrupted"), c.corrupted, tr!("stats.corrupted_hint"), true, Some(injected.corrupted));
            row(
                tr!("stats.telemetry_dropped"),
                model.telemetry_dropped(),
                tr!("stats.telemetry_dropped_hint"),
                false,
                None,
            );
        });
        // Counts of different processes are read at one tick but not at one instant: at a high
        // rate what moved in between shows up in "in flight", and the screen says how much.
        let moved = model.report_skew_nanos() as f64 / 1e9 * t.per_sec;
        let stopped =
            model.is_running() && model.workers.iter().any(|w| w.state == crate::traffic::model::ProcState::Stopped);
        if stopped {
            // A stopped process cannot report: its counts are its last report's, from before the
            // stop, so "in flight" also counts what it read after that report.
            ui.label(RichText::new(tr!("stats.stopped_counts")).weak());
        } else if finished.is_none() && !model.paused && model.pace == Pace::RealTime && moved >= 1.0 {
            ui.label(
                RichText::new(tr!(
                    "stats.skew",
                    us = format!("{:.0}", model.report_skew_nanos() as f64 / 1e3),
                    n = thousands(moved as u64)
                ))
                .weak(),
            );
        }
        if faults_on && model.spec.as_ref().is_some_and(|s| s.pattern == crate::traffic::spec::Pattern::Pipeline) {
            ui.label(RichText::new(tr!("stats.pipeline_note")).weak());
        }
        ui.add_space(8.0);
        // Both plots share what is left of the panel, so they are on screen without scrolling
        // whenever they can be.
        let left = bottom - ui.cursor().top();
        let plot_h = ((left - 80.0) / 2.0).clamp(90.0, 260.0);
        ui.strong(tr!("stats.histogram", kind = kind_title)).on_hover_text(tr!("stats.histogram_hint"));
        let bars: Vec<Bar> = model
            .histogram
            .counts
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(i, c)| {
                let (from, to) = (LiveHistogram::bucket_start_micros(i), LiveHistogram::bucket_start_micros(i + 1));
                let (lo, hi) = (from.log10(), to.log10());
                // Its name is the range it counts, in the one unit rule, for the hover text.
                let name = tr!(
                    "stats.bucket",
                    from = crate::i18n::latency_text(from * 1e3),
                    to = crate::i18n::latency_text(to * 1e3)
                );
                Bar::new((lo + hi) / 2.0, *c as f64).width(hi - lo).name(name)
            })
            .collect();
        // Hovered, a bar says the latencies it counts and how many, not the log10 it stands at.
        let messages = tr!("stats.messages");
        let bucket_hover = move |bar: &Bar, _: &BarChart| {
            format!("{}\n{} {messages}", bar.name, crate::i18n::grouped(bar.value.round() as u64))
        };
        // Fixed bounds and one labelled tick per decade, 1 µs .. 1 s, whatever the data: a
        // stopped process's seconds-long latency must not rescale the axis away. Narrow plots
        // label every other decade.
        let every = if ui.available_width() < 300.0 { 2 } else { 1 };
        let x_axis = AxisHints::new_x().label(tr!("stats.histogram_axis")).label_spacing(10.0..=20.0).formatter(
            move |mark, _| {
                let i = mark.value.round() as usize;
                if (mark.value - mark.value.round()).abs() < 1e-6 && i < DECADES.len() && i.is_multiple_of(every) {
                    DECADES[i].to_string()
                } else {
                    String::new()
                }
            },
        );
        Plot::new("histogram")
            .height(plot_h)
            .allow_scroll(false)
            .allow_drag(false)
            .allow_zoom(false)
            .allow_boxed_zoom(false)
            .allow_double_click_reset(false)
            .custom_x_axes(vec![x_axis])
            .custom_y_axes(vec![AxisHints::new_y().label(tr!("stats.messages")).label_spacing(12.0..=20.0)])
            .x_grid_spacer(|_| (0..DECADES.len()).map(|i| GridMark { value: i as f64, step_size: 1.0 }).collect())
            .default_x_bounds(-0.35, 6.35)
            .include_y(0.0)
            .show(ui, |plot_ui| {
                plot_ui.set_plot_bounds_x(-0.35..=6.35);
                plot_ui.bar_chart(BarChart::new(tr!("stats.messages"), bars).element_formatter(Box::new(bucket_hover)));
            });
        // Microseconds, or milliseconds once one is a millisecond or more: the unit `latency_text`
        // gives the numbers above, so the axis never reads 4000 µs beside "p99 4.66 ms".
        let slow = model.latency_series.iter().any(|&(_, l)| l >= 1_000.0);
        let (unit, scale) = if slow { ("ms", 1e-3) } else { ("µs", 1.0) };
        ui.strong(tr!("stats.over_time", kind = kind_title));
        let points: Vec<[f64; 2]> = model.latency_series.iter().map(|&(t, l)| [t, l * scale]).collect();
        // The unit alone: the title says what, and a longer label would not fit a short plot.
        let y_label = unit;
        // Hovered, a point says when and its latency in the one unit rule.
        let hover = move |pos: &egui_plot::HoverPosition<'_>| match pos {
            egui_plot::HoverPosition::NearDataPoint { position, .. } => {
                Some(format!("{:.2} s · {}", position.x, crate::i18n::latency_text(position.y / scale * 1e3)))
            }
            egui_plot::HoverPosition::Elsewhere { .. } => None,
        };
        Plot::new("latency-over-time")
            .height(plot_h)
            .allow_scroll(false)
            .label_formatter(hover)
            .custom_y_axes(vec![AxisHints::new_y().label(y_label).label_spacing(12.0..=20.0).formatter(nice_label)])
            .y_grid_spacer(nice_marks)
            .x_grid_spacer(nice_marks)
            .custom_x_axes(vec![
                AxisHints::new_x().label(tr!("stats.seconds_axis")).label_spacing(24.0..=36.0).formatter(nice_label),
            ])
            // From zero, and never a vanishing range (an empty plot read "-0 0 0").
            .include_y(0.0)
            .include_y(1.0)
            .include_x(0.0)
            .include_x(1.0)
            .show(ui, |plot_ui| plot_ui.points(Points::new(tr!("stats.latency"), points).radius(1.5)));
        if !model.errors.is_empty() {
            ui.add_space(6.0);
            ui.strong(tr!("stats.errors"));
            for e in &model.errors {
                ui.label(RichText::new(e).color(ui.visuals().warn_fg_color));
            }
        }
    });
}

/// The kind of latency (`Model::latency_kind`'s words) for people.
fn kind_text(kind: &str) -> String {
    match kind {
        "round trip" => tr!("stats.kind_round_trip"),
        "one-way, end to end" => tr!("stats.kind_end_to_end"),
        _ => tr!("stats.kind_one_way"),
    }
}
