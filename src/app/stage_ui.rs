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
use crate::scenario::{Pattern, human_bytes};
use crate::supervisor::WorkerSignal;
use crate::telemetry::Role;

pub const INITIATOR_COLOR: Color32 = Color32::from_rgb(70, 140, 230);
pub const RESPONDER_COLOR: Color32 = Color32::from_rgb(235, 140, 50);
/// Packets drawn at once at most; more would be a blur, and the counts say the rest.
const MAX_PACKETS: usize = 80;

pub fn role_color(role: Role) -> Color32 {
    match role {
        Role::Initiator => INITIATOR_COLOR,
        Role::Responder => RESPONDER_COLOR,
    }
}

pub fn role_title(role: Role, pattern: Pattern) -> &'static str {
    match (role, pattern) {
        (Role::Initiator, Pattern::PingPong) => "initiator (pinger)",
        (Role::Responder, Pattern::PingPong) => "responder (echo)",
        (Role::Initiator, Pattern::Stream) => "producer",
        (Role::Responder, Pattern::Stream) => "consumer",
    }
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

/// Draws the stage; returns the process actions the user chose.
pub fn stage_ui(model: &Model, ui_state: &UiState, now_nanos: u64, ui: &mut egui::Ui) -> Vec<(Role, WorkerSignal)> {
    let mut actions = Vec::new();
    let rect = ui.available_rect_before_wrap();
    let painter = ui.painter_at(rect);
    let text = ui.visuals().text_color();
    let weak = ui.visuals().weak_text_color();

    let Some(spec) = model.spec.as_ref() else {
        painter.text(
            rect.center(),
            Align2::CENTER_CENTER,
            "Two real processes will appear here.\nPick a mechanism above and press Start (or Space).",
            FontId::proportional(22.0),
            weak,
        );
        ui.allocate_rect(rect, Sense::hover());
        return actions;
    };

    let node_size = vec2((rect.width() * 0.27).clamp(230.0, 320.0), 130.0);
    let left = Rect::from_center_size(pos2(rect.left() + rect.width() * 0.17, rect.center().y), node_size);
    let right = Rect::from_center_size(pos2(rect.right() - rect.width() * 0.17, rect.center().y), node_size);
    let lane_gap = 34.0;
    let fwd_y = rect.center().y - lane_gap;
    let bwd_y = rect.center().y + lane_gap;
    let (x0, x1) = (left.right() + 12.0, right.left() - 12.0);

    // The channel: one lane per direction, labelled with the mechanism.
    let mech = spec.mechanism;
    let lane_stroke = Stroke::new(3.0, ui.visuals().widgets.noninteractive.fg_stroke.color.gamma_multiply(0.5));
    lane(&painter, pos2(x0, fwd_y), pos2(x1, fwd_y), lane_stroke);
    lane(&painter, pos2(x1, bwd_y), pos2(x0, bwd_y), lane_stroke);
    painter.text(
        pos2((x0 + x1) / 2.0, rect.center().y),
        Align2::CENTER_CENTER,
        mech.as_str(),
        FontId::proportional(20.0),
        text,
    );
    painter.text(
        pos2((x0 + x1) / 2.0, bwd_y + 48.0),
        Align2::CENTER_TOP,
        mech.description(),
        FontId::proportional(13.0),
        weak,
    );
    // Buffer fill as the receiving end reads it from the kernel or the ring.
    for (role, y) in [(Role::Responder, fwd_y - 26.0), (Role::Initiator, bwd_y + 26.0)] {
        if let Some(q) = model.progress[role.wire_id() as usize].queued {
            let fill = q.capacity.map(|c| (q.amount as f32 / c.max(1) as f32).clamp(0.0, 1.0));
            let label = match (q.unit, q.capacity) {
                (QueuedUnit::Bytes, Some(c)) => format!("queued: {} of {}", human_bytes(q.amount), human_bytes(c)),
                (QueuedUnit::Bytes, None) => format!("queued: {}", human_bytes(q.amount)),
                (QueuedUnit::Messages, Some(c)) => format!("queued: {} of {} messages", q.amount, c),
                (QueuedUnit::Messages, None) => format!("queued: {} messages", q.amount),
            };
            let bar = Rect::from_min_size(pos2(x1 - 150.0, y - 6.0), vec2(140.0, 12.0));
            let (bar, align, tx) = if role == Role::Responder {
                (bar, Align2::RIGHT_CENTER, bar.left() - 6.0)
            } else {
                let b = bar.translate(vec2(x0 + 10.0 - bar.left(), 0.0));
                (b, Align2::LEFT_CENTER, b.right() + 6.0)
            };
            painter.rect_stroke(bar, 2.0, Stroke::new(1.0, weak), StrokeKind::Inside);
            if let Some(f) = fill {
                let mut filled = bar;
                filled.set_width(bar.width() * f);
                painter.rect_filled(filled, 2.0, role_color(role).gamma_multiply(0.7));
            }
            painter.text(pos2(tx, y), align, label, FontId::proportional(12.0), weak);
        }
    }

    // Packets.
    let crossing = model.crossing_nanos() as f64 / 1e9;
    // The newest MAX_PACKETS messages, drawn oldest first so the newest is on top.
    let skip = model.messages.len().saturating_sub(MAX_PACKETS);
    for m in model.messages.iter().skip(skip) {
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
        if age > crossing * 3.0 && m.recv_ts_nanos.is_some() {
            continue;
        }
        let (from_x, to_x, y) = if m.from == Role::Initiator { (x0, x1, fwd_y) } else { (x1, x0, bwd_y) };
        let x = from_x + (to_x - from_x) * f as f32;
        let packet = Rect::from_center_size(pos2(x, y), vec2(34.0, 18.0));
        painter.rect_filled(packet, CornerRadius::same(4), role_color(m.from));
        painter.text(
            packet.center(),
            Align2::CENTER_CENTER,
            m.seq.to_string(),
            FontId::monospace(11.0),
            Color32::WHITE,
        );
    }
    if model.sample_every > 1 {
        painter.text(
            pos2(rect.center().x, rect.top() + 14.0),
            Align2::CENTER_CENTER,
            format!("showing 1 in {} messages; the numbers count all of them", thousands(model.sample_every)),
            FontId::proportional(14.0),
            weak,
        );
    }

    // Processes.
    for (role, node) in [(Role::Initiator, left), (Role::Responder, right)] {
        let Some(w) = model.worker_for(role) else { continue };
        let id = ui.scope_id().with(("process", role.as_str()));
        let response = ui.interact(node, id, Sense::click());
        let label = format!("{} process", role.as_str());
        response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Button, true, &label));
        draw_node(&painter, node, w, role, spec.pattern, model, ui);
        response.context_menu(|ui| {
            ui.label(format!("{} · pid {}", role_title(role, spec.pattern), w.pid));
            ui.separator();
            for (name, signal) in [
                ("Kill (SIGKILL)", WorkerSignal::Kill),
                ("Stop (SIGSTOP)", WorkerSignal::Stop),
                ("Continue (SIGCONT)", WorkerSignal::Continue),
            ] {
                if ui.add_enabled(w.state.is_alive(), egui::Button::new(name)).clicked() {
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
    pattern: Pattern,
    model: &Model,
    ui: &egui::Ui,
) {
    let visuals = ui.visuals();
    let color = role_color(role);
    let state_c = state_color(&w.state);
    let at_gate = matches!(w.state, ProcState::AtGate { .. });
    painter.rect_filled(node, 10.0, visuals.extreme_bg_color);
    painter.rect_stroke(node, 10.0, Stroke::new(if at_gate { 4.0 } else { 2.5 }, color), StrokeKind::Inside);
    let title = if w.roles.len() > 1 {
        format!("{} · thread", role_title(role, pattern))
    } else {
        role_title(role, pattern).to_string()
    };
    let x = node.left() + 12.0;
    let mut y = node.top() + 12.0;
    painter.text(pos2(x, y), Align2::LEFT_TOP, title, FontId::proportional(18.0), color);
    y += 26.0;
    painter.text(pos2(x, y), Align2::LEFT_TOP, format!("pid {}", w.pid), FontId::monospace(14.0), visuals.text_color());
    y += 22.0;
    painter.circle_filled(pos2(x + 6.0, y + 8.0), 6.0, state_c);
    painter.text(
        pos2(x + 18.0, y),
        Align2::LEFT_TOP,
        w.state.label(),
        FontId::proportional(15.0),
        visuals.text_color(),
    );
    y += 22.0;
    let p = &model.progress[role.wire_id() as usize];
    painter.text(
        pos2(x, y),
        Align2::LEFT_TOP,
        format!("CPU {:.0}% · sent {} · got {}", w.cpu_percent, thousands(p.sent), thousands(p.received)),
        FontId::proportional(13.0),
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
