//! Live statistics: latency percentiles, throughput, the delivery accounting (zeros shown, since a
//! zero is the point), telemetry dropped, and two plots: the latency histogram and latency over time.

use egui::RichText;
use egui_plot::{Bar, BarChart, Plot, Points};

use super::stage_ui::thousands;
use crate::model::{LiveHistogram, Model, RunStatus};
use crate::scenario::human_bytes;

fn micros(nanos: u64) -> String {
    if nanos >= 10_000_000 { format!("{:.1} ms", nanos as f64 / 1e6) } else { format!("{:.2} µs", nanos as f64 / 1e3) }
}

pub fn stats_ui(model: &Model, now_nanos: u64, ui: &mut egui::Ui) {
    egui::ScrollArea::vertical().show(ui, |ui| {
        ui.heading("Live numbers");
        egui::Grid::new("latency").num_columns(2).striped(true).show(ui, |ui| {
            match model.latency() {
                Some((l, kind)) => {
                    ui.label(format!("{kind} p50"));
                    ui.label(RichText::new(micros(l.p50)).strong());
                    ui.end_row();
                    ui.label(format!("{kind} p99"));
                    ui.label(micros(l.p99));
                    ui.end_row();
                    ui.label(format!("{kind} max"));
                    ui.label(micros(l.max));
                    ui.end_row();
                }
                None => {
                    ui.label("latency");
                    ui.weak("waiting for messages");
                    ui.end_row();
                }
            }
            ui.label("throughput");
            let size = model.spec.as_ref().map_or(0, |s| s.size) as f64;
            let rate = model.msgs_per_sec(now_nanos);
            ui.label(format!("{} msg/s · {}/s", thousands(rate as u64), human_bytes((rate * size) as u64)))
                .on_hover_text("messages delivered to their final receiver per second, over the last second");
            ui.end_row();
        });
        ui.add_space(6.0);
        let acc = model.accounting();
        let finished = match &model.status {
            RunStatus::Finished(Ok(r)) => Some(r),
            _ => None,
        };
        egui::Grid::new("accounting").num_columns(2).striped(true).show(ui, |ui| {
            let mut row = |k: &str, v: u64, hint: &str| {
                ui.label(k).on_hover_text(hint);
                let t = RichText::new(thousands(v)).monospace();
                ui.label(if v > 0 && (k == "lost" || k == "duplicated" || k == "corrupted" || k == "out of order") {
                    t.color(ui.visuals().error_fg_color)
                } else {
                    t
                });
                ui.end_row();
            };
            row("sent", model.sent_total(), "data frames sent, both directions");
            row("received", acc.received, "frames the receivers decoded");
            match finished {
                Some(r) => row("lost", r.lost, "sent but never received (computed at the end)"),
                None => row("in flight or lost", model.not_arrived(), "sent but not (yet) seen by the receiver"),
            }
            row("duplicated", acc.duplicated, "sequence numbers seen twice");
            row("out of order", acc.out_of_order, "arrived after a later one");
            row("corrupted", acc.corrupted, "payload failed its CRC-32");
            row("telemetry dropped", model.telemetry_dropped(), "events a worker dropped rather than block");
        });
        ui.add_space(8.0);
        ui.strong("Latency histogram (sampled messages, one-way)");
        let bars: Vec<Bar> = model
            .histogram
            .counts
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(i, c)| {
                let lo = LiveHistogram::bucket_start_micros(i).log10();
                let hi = LiveHistogram::bucket_start_micros(i + 1).log10();
                Bar::new((lo + hi) / 2.0, *c as f64).width(hi - lo)
            })
            .collect();
        Plot::new("histogram")
            .height(150.0)
            .allow_scroll(false)
            .allow_drag(false)
            .x_axis_label("latency (µs, log scale)")
            .x_axis_formatter(|mark, _| format!("{:.0}", 10f64.powf(mark.value)))
            .show(ui, |plot_ui| plot_ui.bar_chart(BarChart::new("messages", bars)));
        ui.strong("Latency over time (µs)");
        let points: Vec<[f64; 2]> = model.latency_series.iter().map(|&(t, l)| [t, l]).collect();
        Plot::new("latency-over-time")
            .height(150.0)
            .allow_scroll(false)
            .x_axis_label("seconds")
            .show(ui, |plot_ui| plot_ui.points(Points::new("latency", points).radius(1.5)));
        if !model.errors.is_empty() {
            ui.add_space(6.0);
            ui.strong("What the workers said");
            for e in &model.errors {
                ui.label(RichText::new(e).color(ui.visuals().warn_fg_color));
            }
        }
    });
}
