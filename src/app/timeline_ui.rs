//! The timeline: a space-time diagram of recent messages, one lane per process, an arrow from each
//! send to its receive. Zoom and drag with the mouse; Pause freezes it; hover shows the details.

use egui::Color32;
use egui_plot::{Arrows, AxisHints, GridMark, Plot, PlotPoint, Points};

use super::stage_ui::{packet_color, thousands};
use crate::telemetry::Role;
use crate::tr;
use crate::traffic::model::{Message, Model};
use crate::traffic::spec::{Topology, human_bytes};

/// Messages drawn while live (readable) and when frozen (to explore); the rest are in the counts.
const LIVE_ARROWS: usize = 40;

/// Lanes from the top: node 0 highest.
fn lane(role: Role, nodes: usize) -> f64 {
    nodes.saturating_sub(1 + role.index()) as f64
}

pub fn timeline_ui(model: &Model, frozen: Option<&[Message]>, ui: &mut egui::Ui) {
    let live: Vec<Message>;
    let messages: &[Message] = match frozen {
        Some(f) => f,
        None => {
            live = model.messages.iter().rev().take(LIVE_ARROWS).rev().copied().collect();
            &live
        }
    };
    // One series per link direction, so a producer sending on several links (fan-out) shows
    // each link in its receiver's color, and the legend says which is which.
    let mut pairs: Vec<(Role, Role)> = Vec::new();
    for m in messages {
        if m.recv_ts_nanos.is_some() && !pairs.contains(&(m.from, m.to)) {
            pairs.push((m.from, m.to));
        }
    }
    pairs.sort();
    // The legend is in the title's row, outside the plot, so no arrow is ever under it.
    let topology = model.topology.clone();
    header_ui(frozen.is_some(), topology.as_ref().map(|t| (t, pairs.as_slice())), ui);
    let Some(origin) = model.origin_nanos else {
        ui.weak(tr!("timeline.empty"));
        return;
    };
    let t = |nanos: u64| nanos.saturating_sub(origin) as f64 / 1e6; // milliseconds
    let Some(topology) = topology else { return };
    let nodes = topology.programs.len();
    let names: Vec<String> = (0..nodes).map(|i| super::stage_ui::node_label(&topology, Role(i as u16))).collect();
    // Every lane is named at every panel height: labels are allowed however close the lanes
    // are, and the font shrinks to fit when the panel is short.
    let lane_px = (ui.available_height() - 40.0) / nodes.max(1) as f32;
    let font = egui::FontId::proportional((lane_px * 0.8).clamp(8.0, 14.0));
    let y_axis = AxisHints::new_y().label_spacing(0.0..=1.0).tick_label_font(font).formatter(move |mark, _| {
        let i = nodes as f64 - 1.0 - mark.value;
        if (i - i.round()).abs() < 1e-9 && i >= -1e-9 && (i.round() as usize) < names.len() {
            names[i.round() as usize].clone()
        } else {
            String::new()
        }
    });
    // Arrows do not widen the plot's bounds by themselves: include where they end, or a message
    // that took a second (step mode) leaves the view as a flat line.
    let (first, last) = messages.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), m| {
        let end = m.recv_ts_nanos.unwrap_or(m.send_ts_nanos);
        (lo.min(t(m.send_ts_nanos)), hi.max(t(end)))
    });
    let mut plot = Plot::new("timeline");
    if first.is_finite() && last.is_finite() {
        plot = plot.include_x(first).include_x(last);
    }
    let plot = plot
        .allow_scroll(frozen.is_some())
        .allow_drag(frozen.is_some())
        .allow_zoom(frozen.is_some())
        .show_y(false)
        .custom_y_axes(vec![y_axis])
        .x_axis_label(tr!("timeline.axis"))
        .include_y(-0.3)
        .include_y(nodes as f64 - 0.7)
        // A grid line (and a name) on every lane, however short the panel.
        .y_grid_spacer(move |_| (0..nodes).map(|i| GridMark { value: i as f64, step_size: 1.0 }).collect());
    let response = plot.show(ui, |plot_ui| {
        for &(from, to) in &pairs {
            let (mut origins, mut tips) = (Vec::new(), Vec::new());
            for m in messages.iter().filter(|m| m.from == from && m.to == to) {
                if let Some(r) = m.recv_ts_nanos {
                    origins.push([t(m.send_ts_nanos), lane(m.from, nodes)]);
                    tips.push([t(r), lane(m.to, nodes)]);
                }
            }
            // Words, not an arrow glyph: the default fonts have no "→".
            let name = tr!(
                "timeline.series",
                from = super::stage_ui::node_label(&topology, from),
                to = super::stage_ui::node_label(&topology, to)
            );
            let color = packet_color(&topology, from, to);
            plot_ui.arrows(Arrows::new(name.clone(), origins.clone(), tips).color(color).tip_length(8.0));
            plot_ui.points(Points::new(name, origins).color(color).radius(2.5));
        }
        plot_ui.pointer_coordinate().and_then(|p| nearest(messages, p, plot_ui.plot_bounds(), origin, nodes))
    });
    if let Some(m) = response.inner {
        response.response.on_hover_ui_at_pointer(|ui| {
            ui.label(tr!(
                "timeline.message",
                seq = thousands(m.seq),
                from = super::stage_ui::node_label(&topology, m.from),
                to = super::stage_ui::node_label(&topology, m.to)
            ));
            ui.label(tr!("timeline.size", size = human_bytes(m.size as u64)));
            if let Some(l) = m.latency_nanos() {
                ui.label(tr!("timeline.latency", latency = crate::i18n::latency_text(l as f64)));
            }
            ui.label(tr!("timeline.sent_at", ns = thousands(m.send_ts_nanos)));
            match m.recv_ts_nanos {
                Some(r) => ui.label(tr!("timeline.received_at", ns = thousands(r))),
                None => ui.colored_label(Color32::YELLOW, tr!("timeline.not_received")),
            };
        });
    }
}

/// The title, live or paused, and the legend: an arrow in each link direction's color and its name.
fn header_ui(frozen: bool, legend: Option<(&Topology, &[(Role, Role)])>, ui: &mut egui::Ui) {
    ui.horizontal_wrapped(|ui| {
        ui.strong(tr!("timeline.title"));
        ui.label(if frozen { tr!("timeline.paused") } else { tr!("timeline.live") });
        let Some((topology, pairs)) = legend else { return };
        let h = ui.text_style_height(&egui::TextStyle::Body);
        for &(from, to) in pairs {
            ui.add_space(h * 0.4);
            let (rect, _) = ui.allocate_exact_size(egui::vec2(h * 1.6, h), egui::Sense::hover());
            let stroke = egui::Stroke::new(h * 0.15, packet_color(topology, from, to));
            ui.painter().arrow(rect.left_center(), egui::vec2(rect.width(), 0.0), stroke);
            ui.label(tr!(
                "timeline.series",
                from = super::stage_ui::node_label(topology, from),
                to = super::stage_ui::node_label(topology, to)
            ));
        }
    });
}

/// The message whose send point is nearest the pointer, if it is close enough to mean it.
fn nearest(
    messages: &[Message],
    p: PlotPoint,
    bounds: egui_plot::PlotBounds,
    origin: u64,
    nodes: usize,
) -> Option<Message> {
    let x_scale = bounds.width().max(1e-9);
    let y_scale = bounds.height().max(1e-9);
    messages
        .iter()
        .filter_map(|m| {
            let x = m.send_ts_nanos.saturating_sub(origin) as f64 / 1e6;
            let d = ((x - p.x) / x_scale).powi(2) + ((lane(m.from, nodes) - p.y) / y_scale).powi(2);
            (d < 0.0008).then_some((d, *m))
        })
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, m)| m)
}
