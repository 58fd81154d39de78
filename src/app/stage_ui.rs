//! The stage: each process a node, the channel an edge, each message a packet moving along it.
//!
//! Packets are timed from the messages' real send and receive stamps: a packet leaves when its
//! send is reported and never arrives before its receive is; in between it crosses the edge at a
//! speed the eye can follow. A packet whose receive has not been reported waits at the far end, in
//! the receiver's buffer, which is what is happening.

use egui::{Align2, Color32, CornerRadius, FontId, Pos2, Rect, Sense, Stroke, StrokeKind, pos2, vec2};

use super::UiState;
use crate::mechanism::QueuedUnit;
use crate::model::{Model, ProcState, WorkerView};
use crate::scenario::{Pattern, Topology, human_bytes};
use crate::supervisor::WorkerSignal;
use crate::telemetry::Role;

/// One color per node, so a packet shows who sent it.
const PALETTE: [Color32; 8] = [
    Color32::from_rgb(70, 140, 230),
    Color32::from_rgb(235, 140, 50),
    Color32::from_rgb(90, 190, 110),
    Color32::from_rgb(200, 100, 200),
    Color32::from_rgb(220, 200, 60),
    Color32::from_rgb(80, 200, 200),
    Color32::from_rgb(230, 90, 90),
    Color32::from_rgb(160, 160, 240),
];
/// Packets drawn at once at most; more would be a blur, and the counts say the rest.
const MAX_PACKETS: usize = 80;

pub fn role_color(role: Role) -> Color32 {
    PALETTE[role.index() % PALETTE.len()]
}

fn state_color(state: &ProcState) -> Color32 {
    match state {
        ProcState::Running | ProcState::Starting => Color32::from_rgb(60, 170, 90),
        ProcState::Blocked(_) => Color32::from_rgb(220, 170, 40),
        ProcState::AtGate { .. } => Color32::from_rgb(90, 150, 255),
        ProcState::Stopped => Color32::from_rgb(150, 150, 150),
        ProcState::Exited(0) => Color32::from_rgb(120, 120, 120),
        ProcState::Exited(_) | ProcState::Killed(_) => Color32::from_rgb(220, 60, 60),
    }
}

/// Where each node sits: columns by distance from the producers, stacked within a column.
fn layout(topology: &Topology, rect: Rect) -> Vec<Rect> {
    let n = topology.programs.len();
    let mut depth = vec![0usize; n];
    for _ in 0..n {
        for l in &topology.links {
            depth[l.down.index()] = depth[l.down.index()].max(depth[l.up.index()] + 1);
        }
    }
    let columns = depth.iter().max().map_or(1, |d| d + 1);
    let mut per_column = vec![0usize; columns];
    for &d in &depth {
        per_column[d] += 1;
    }
    let rows = per_column.iter().copied().max().unwrap_or(1);
    let col_w = rect.width() / columns as f32;
    let size = vec2((col_w * 0.6).clamp(120.0, 270.0), (rect.height() / rows as f32 * 0.7).clamp(84.0, 130.0));
    let mut seen = vec![0usize; columns];
    depth
        .iter()
        .map(|&d| {
            let row = seen[d];
            seen[d] += 1;
            let row_h = rect.height() / per_column[d] as f32;
            let center = pos2(rect.left() + col_w * (d as f32 + 0.5), rect.top() + row_h * (row as f32 + 0.5));
            Rect::from_center_size(center, size)
        })
        .collect()
}

/// Draws the stage; returns the process actions the user chose.
pub fn stage_ui(model: &Model, ui_state: &UiState, now_nanos: u64, ui: &mut egui::Ui) -> Vec<(Role, WorkerSignal)> {
    let mut actions = Vec::new();
    let rect = ui.available_rect_before_wrap();
    let painter = ui.painter_at(rect);
    let text = ui.visuals().text_color();
    let weak = ui.visuals().weak_text_color();

    let (Some(spec), Some(topology)) = (model.spec.as_ref(), model.topology.as_ref()) else {
        painter.text(
            rect.center(),
            Align2::CENTER_CENTER,
            "Real processes will appear here.\nPick a mechanism above and press Start (or Space).",
            FontId::proportional(22.0),
            weak,
        );
        ui.allocate_rect(rect, Sense::hover());
        return actions;
    };

    let mech = spec.mechanism;
    painter.text(
        pos2(rect.center().x, rect.top() + 10.0),
        Align2::CENTER_TOP,
        format!("{} · {}", mech.as_str(), mech.description()),
        FontId::proportional(15.0),
        text,
    );
    let mut caption_y = rect.top() + 32.0;
    if model.sample_every > 1 {
        painter.text(
            pos2(rect.center().x, caption_y),
            Align2::CENTER_TOP,
            format!("showing 1 in {} messages; the numbers count all of them", thousands(model.sample_every)),
            FontId::proportional(14.0),
            weak,
        );
        caption_y += 20.0;
    }
    let stage =
        Rect::from_min_max(pos2(rect.left() + 8.0, caption_y + 10.0), pos2(rect.right() - 8.0, rect.bottom() - 10.0));
    let nodes = layout(topology, stage);
    let two_way = spec.pattern == Pattern::PingPong;
    let lane_gap = if two_way { 28.0 } else { 0.0 };
    let lane_stroke = Stroke::new(3.0, ui.visuals().widgets.noninteractive.fg_stroke.color.gamma_multiply(0.5));

    // Each link: a lane per direction it carries, from the sender's side to the receiver's.
    let lane_ends = |from: Role, to: Role| {
        let (a, b) = (nodes[from.index()], nodes[to.index()]);
        let forward = a.center().x <= b.center().x;
        let offset = if two_way { if from.index() < to.index() { -lane_gap } else { lane_gap } } else { 0.0 };
        let start =
            if forward { a.right_center() } else { a.left_center() } + vec2(if forward { 8.0 } else { -8.0 }, offset);
        let end =
            if forward { b.left_center() } else { b.right_center() } + vec2(if forward { -8.0 } else { 8.0 }, offset);
        (start, end)
    };
    for l in &topology.links {
        let mut directions = vec![(l.up, l.down)];
        if two_way {
            directions.push((l.down, l.up));
        }
        for (from, to) in directions {
            let (a, b) = lane_ends(from, to);
            lane(&painter, a, b, lane_stroke);
            // The receiving end's buffer, as it reads it from the kernel or the ring.
            let queue = model
                .progress
                .get(to.index())
                .and_then(|p| p.queues.iter().find(|(k, _)| *k == l.link))
                .map(|(_, q)| *q);
            if let Some(q) = queue {
                let label = match (q.unit, q.capacity) {
                    (QueuedUnit::Bytes, Some(c)) => format!("queued {} of {}", human_bytes(q.amount), human_bytes(c)),
                    (QueuedUnit::Bytes, None) => format!("queued {}", human_bytes(q.amount)),
                    (QueuedUnit::Messages, Some(c)) => format!("queued {} of {} msgs", q.amount, c),
                    (QueuedUnit::Messages, None) => format!("queued {} msgs", q.amount),
                };
                let mid = a + (b - a) * 0.5;
                let above = if two_way && from.index() > to.index() { 20.0 } else { -20.0 };
                let bar = Rect::from_center_size(mid + vec2(0.0, above), vec2(90.0, 8.0));
                painter.rect_stroke(bar, 2.0, Stroke::new(1.0, weak), StrokeKind::Inside);
                if let Some(c) = q.capacity {
                    let mut filled = bar;
                    filled.set_width(bar.width() * (q.amount as f32 / c.max(1) as f32).clamp(0.0, 1.0));
                    painter.rect_filled(filled, 2.0, role_color(to).gamma_multiply(0.7));
                }
                if (b - a).length() < 150.0 {
                    continue; // no room for words on a short lane; the bar says it
                }
                painter.text(
                    bar.center() + vec2(0.0, if above < 0.0 { -12.0 } else { 12.0 }),
                    Align2::CENTER_CENTER,
                    label,
                    FontId::proportional(11.0),
                    weak,
                );
            }
        }
    }

    // Packets: the newest MAX_PACKETS messages, drawn oldest first so the newest is on top.
    let crossing = model.crossing_nanos() as f64 / 1e9;
    let skip = model.messages.len().saturating_sub(MAX_PACKETS);
    for m in model.messages.iter().skip(skip) {
        if m.from.index() >= nodes.len() || m.to.index() >= nodes.len() {
            continue;
        }
        if ui_state.animate && m.depart_at_nanos > now_nanos {
            continue; // waits for the message that caused it to arrive first
        }
        let age = now_nanos.saturating_sub(m.depart_at_nanos) as f64 / 1e9;
        let mut f = if ui_state.animate { age / crossing } else { 0.5 };
        if m.recv_ts_nanos.is_none() {
            f = f.min(0.88); // in the receiver's buffer until it is really read
        } else if f >= 1.0 {
            continue;
        }
        let (a, b) = lane_ends(m.from, m.to);
        let at = a + (b - a) * f as f32;
        let packet = Rect::from_center_size(at, vec2(34.0, 18.0));
        painter.rect_filled(packet, CornerRadius::same(4), role_color(m.from));
        painter.text(
            packet.center(),
            Align2::CENTER_CENTER,
            m.seq.to_string(),
            FontId::monospace(11.0),
            Color32::WHITE,
        );
    }

    // Processes.
    for (i, node) in nodes.iter().enumerate() {
        let role = Role(i as u16);
        let Some(w) = model.worker_for(role) else { continue };
        let name = topology.node_name(role);
        let id = ui.scope_id().with(("process", i));
        let response = ui.interact(*node, id, Sense::click());
        let label = format!("{name} process");
        response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Button, true, &label));
        draw_node(&painter, *node, w, role, &name, model, ui);
        response.context_menu(|ui| {
            ui.label(format!("{name} · pid {}", w.pid));
            ui.separator();
            for (what, signal) in [
                ("Kill (SIGKILL)", WorkerSignal::Kill),
                ("Stop (SIGSTOP)", WorkerSignal::Stop),
                ("Continue (SIGCONT)", WorkerSignal::Continue),
            ] {
                if ui.add_enabled(w.state.is_alive(), egui::Button::new(what)).clicked() {
                    actions.push((role, signal));
                    ui.close();
                }
            }
        });
        response.on_hover_text("Right-click: kill, stop or continue this process");
    }
    ui.allocate_rect(rect, Sense::hover());
    actions
}

fn draw_node(
    painter: &egui::Painter,
    node: Rect,
    w: &WorkerView,
    role: Role,
    name: &str,
    model: &Model,
    ui: &egui::Ui,
) {
    let visuals = ui.visuals();
    let color = role_color(role);
    let state_c = state_color(&w.state);
    let at_gate = matches!(w.state, ProcState::AtGate { .. });
    painter.rect_filled(node, 10.0, visuals.extreme_bg_color);
    painter.rect_stroke(node, 10.0, Stroke::new(if at_gate { 4.0 } else { 2.5 }, color), StrokeKind::Inside);
    let title = if w.roles.len() > 1 { format!("{name} · thread") } else { name.to_string() };
    // Narrow nodes (long pipelines) get smaller text so it stays inside.
    let k = (node.width() / 240.0).clamp(0.7, 1.0);
    let x = node.left() + 10.0;
    let mut y = node.top() + 10.0;
    painter.text(pos2(x, y), Align2::LEFT_TOP, title, FontId::proportional(18.0 * k), color);
    y += 26.0 * k;
    painter.text(
        pos2(x, y),
        Align2::LEFT_TOP,
        format!("pid {}", w.pid),
        FontId::monospace(14.0 * k),
        visuals.text_color(),
    );
    y += 22.0 * k;
    painter.circle_filled(pos2(x + 6.0, y + 8.0 * k), 6.0 * k, state_c);
    let state_galley =
        painter.layout(w.state.label(), FontId::proportional(15.0 * k), visuals.text_color(), node.right() - x - 22.0);
    painter.galley(pos2(x + 18.0, y), state_galley.clone(), visuals.text_color());
    y += state_galley.size().y + 4.0;
    let Some(p) = model.progress.get(role.index()) else { return };
    painter.text(
        pos2(x, y),
        Align2::LEFT_TOP,
        format!("CPU {:.0}% · sent {} · got {}", w.cpu_percent, thousands(p.sent), thousands(p.received)),
        FontId::proportional(13.0 * k),
        visuals.weak_text_color(),
    );
}

/// A lane of the channel: a line with a small arrow head at `to`.
fn lane(painter: &egui::Painter, from: Pos2, to: Pos2, stroke: Stroke) {
    painter.line_segment([from, to], stroke);
    let dir = (to - from).normalized();
    let back = to - dir * 12.0;
    let side = vec2(-dir.y, dir.x) * 7.0;
    painter.add(egui::Shape::convex_polygon(vec![to, back + side, back - side], stroke.color, Stroke::NONE));
}

/// 1234567 → "1,234,567".
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
