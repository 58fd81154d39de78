//! The timeline: a space-time diagram of recent messages, one lane per process, an arrow from each
//! send to its receive. Zoom and drag with the mouse; Pause freezes it; hover shows the details.

use egui::Color32;
use egui_plot::{Arrows, Legend, Plot, PlotPoint, Points};

use super::stage_ui::{role_color, thousands};
use crate::model::{Message, Model};
use crate::scenario::human_bytes;
use crate::telemetry::Role;

/// Messages drawn while live (readable) and when frozen (to explore); the rest are in the counts.
const LIVE_ARROWS: usize = 40;

fn lane(role: Role) -> f64 {
    match role {
        Role::Initiator => 1.0,
        Role::Responder => 0.0,
    }
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
    let plot = Plot::new("timeline")
        .legend(Legend::default())
        .allow_scroll(frozen.is_some())
        .allow_drag(frozen.is_some())
        .allow_zoom(frozen.is_some())
        .show_y(false)
        .y_axis_label("")
        .x_axis_label("time since first message (ms)")
        .include_y(-0.3)
        .include_y(1.3)
        .y_axis_formatter(|mark, _| match mark.value {
            v if (v - 1.0).abs() < 1e-9 => "initiator".into(),
            v if v.abs() < 1e-9 => "responder".into(),
            _ => String::new(),
        });
    let response = plot.show(ui, |plot_ui| {
        for role in [Role::Initiator, Role::Responder] {
            let (mut origins, mut tips) = (Vec::new(), Vec::new());
            for m in messages.iter().filter(|m| m.from == role) {
                if let Some(r) = m.recv_ts_nanos {
                    origins.push([t(m.send_ts_nanos), lane(m.from)]);
                    tips.push([t(r), lane(m.to)]);
                }
            }
            let name = format!("from {}", role.as_str());
            plot_ui.arrows(Arrows::new(name.clone(), origins.clone(), tips).color(role_color(role)).tip_length(8.0));
            plot_ui.points(Points::new(name, origins).color(role_color(role)).radius(2.5));
        }
        plot_ui.pointer_coordinate().and_then(|p| nearest(messages, p, plot_ui.plot_bounds(), origin))
    });
    if let Some(m) = response.inner {
        response.response.on_hover_ui_at_pointer(|ui| {
            ui.label(format!("message #{} from the {}", thousands(m.seq), m.from.as_str()));
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
fn nearest(messages: &[Message], p: PlotPoint, bounds: egui_plot::PlotBounds, origin: u64) -> Option<Message> {
    let x_scale = bounds.width().max(1e-9);
    let y_scale = bounds.height().max(1e-9);
    messages
        .iter()
        .filter_map(|m| {
            let x = m.send_ts_nanos.saturating_sub(origin) as f64 / 1e6;
            let d = ((x - p.x) / x_scale).powi(2) + ((lane(m.from) - p.y) / y_scale).powi(2);
            (d < 0.0008).then_some((d, *m))
        })
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, m)| m)
}
