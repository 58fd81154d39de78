//! The timeline: a space-time diagram of recent messages, one lane per process, an arrow from each
//! send to its receive. Zoom and drag with the mouse; Pause freezes it; hover shows the details.

use egui::Color32;
use egui_plot::{Arrows, GridMark, Legend, Plot, PlotPoint, Points};

use super::stage_ui::{role_color, thousands};
use crate::model::{Message, Model};
use crate::scenario::human_bytes;
use crate::telemetry::Role;

/// Messages drawn while live (readable) and when frozen (to explore); the rest are in the counts.
const LIVE_ARROWS: usize = 40;

/// Lanes from the top: node 0 highest.
fn lane(role: Role, nodes: usize) -> f64 {
    nodes.saturating_sub(1 + role.index()) as f64
}

pub fn timeline_ui(model: &Model, frozen: Option<&[Message]>, ui: &mut egui::Ui) {
    ui.horizontal(|ui| {
        ui.strong("Timeline");
        ui.label(match frozen {
            Some(_) => "paused: zoom (scroll/ctrl), drag, hover a message for its details",
            None => "newest at the right; Pause to freeze and inspect",
        });
    });
    let live: Vec<Message>;
    let messages: &[Message] = match frozen {
        Some(f) => f,
        None => {
            live = model.messages.iter().rev().take(LIVE_ARROWS).rev().copied().collect();
            &live
        }
    };
    let Some(origin) = model.origin_nanos else {
        ui.weak("No messages yet.");
        return;
    };
    let t = |nanos: u64| nanos.saturating_sub(origin) as f64 / 1e6; // milliseconds
    let Some(topology) = model.topology.clone() else { return };
    let nodes = topology.programs.len();
    let names: Vec<String> = (0..nodes).map(|i| topology.node_name(Role(i as u16))).collect();
    let plot = Plot::new("timeline")
        .legend(Legend::default())
        .allow_scroll(frozen.is_some())
        .allow_drag(frozen.is_some())
        .allow_zoom(frozen.is_some())
        .show_y(false)
        .y_axis_label("")
        .x_axis_label("time since first message (ms)")
        .include_y(-0.3)
        .include_y(nodes as f64 - 0.7)
        // A grid line (and a name) on every lane, however short the panel.
        .y_grid_spacer(move |_| (0..nodes).map(|i| GridMark { value: i as f64, step_size: 1.0 }).collect())
        .y_axis_formatter(move |mark, _| {
            let v = mark.value;
            let i = nodes as f64 - 1.0 - v;
            if (i - i.round()).abs() < 1e-9 && i >= 0.0 && (i as usize) < names.len() {
                names[i as usize].clone()
            } else {
                String::new()
            }
        });
    let response = plot.show(ui, |plot_ui| {
        for i in 0..nodes {
            let role = Role(i as u16);
            let (mut origins, mut tips) = (Vec::new(), Vec::new());
            for m in messages.iter().filter(|m| m.from == role) {
                if let Some(r) = m.recv_ts_nanos {
                    origins.push([t(m.send_ts_nanos), lane(m.from, nodes)]);
                    tips.push([t(r), lane(m.to, nodes)]);
                }
            }
            if origins.is_empty() {
                continue;
            }
            let name = format!("from {}", topology.node_name(role));
            plot_ui.arrows(Arrows::new(name.clone(), origins.clone(), tips).color(role_color(role)).tip_length(8.0));
            plot_ui.points(Points::new(name, origins).color(role_color(role)).radius(2.5));
        }
        plot_ui.pointer_coordinate().and_then(|p| nearest(messages, p, plot_ui.plot_bounds(), origin, nodes))
    });
    if let Some(m) = response.inner {
        response.response.on_hover_ui_at_pointer(|ui| {
            ui.label(format!(
                "message #{} from the {} to the {}",
                thousands(m.seq),
                topology.node_name(m.from),
                topology.node_name(m.to)
            ));
            ui.label(format!("size: {}", human_bytes(m.size as u64)));
            if let Some(l) = m.latency_nanos() {
                ui.label(format!("latency: {:.2} µs", l as f64 / 1000.0));
            }
            ui.label(format!("sent at {} ns (CLOCK_MONOTONIC)", thousands(m.send_ts_nanos)));
            match m.recv_ts_nanos {
                Some(r) => ui.label(format!("received at {} ns", thousands(r))),
                None => ui.colored_label(Color32::YELLOW, "not received yet"),
            };
        });
    }
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
