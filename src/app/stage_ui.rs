//! The stage: each process a node, the channel an edge, each message a packet moving along it.
//!
//! Packets are timed from the messages' real send and receive stamps: a packet leaves when its
//! send is reported and never arrives before its receive is; in between it crosses the edge at a
//! speed the eye can follow. A packet whose receive has not been reported waits at the far end, in
//! the receiver's buffer, which is what is happening.

use egui::{Align2, Color32, CornerRadius, FontId, Pos2, Rect, Sense, Stroke, StrokeKind, pos2, vec2};

use super::UiState;
use super::controls_ui::{mechanism_description, pattern_label};
use crate::mechanism::{MechanismId, QueuedUnit};
use crate::supervisor::WorkerSignal;
use crate::telemetry::Role;
use crate::tr;
use crate::traffic::model::{
    Clamp, MAX_CROSSING_NANOS, MIN_CROSSING_NANOS, Model, ProcState, STAGE_NANOS_PER_LATENCY_MICRO, WorkerView,
    placement_text,
};
use crate::traffic::session::Pace;
use crate::traffic::spec::{Pattern, Topology, human_bytes};

/// One color per node, so a packet shows who sent it.
pub(crate) const PALETTE: [Color32; 8] = [
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

/// The color of a message from `from` to `to`: its sender's, or, when the sender sends on
/// several links (a fan-out producer), its receiver's, so each link can be told apart.
pub fn packet_color(topology: &Topology, from: Role, to: Role) -> Color32 {
    if topology.links.iter().filter(|l| l.up == from).count() > 1 { role_color(to) } else { role_color(from) }
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
    // Boxes grow with the window (text grows with them, see `draw_node`) and always leave a gap
    // between columns for the lanes.
    let row_h = rect.height() / rows as f32;
    // Two columns get long lanes (room for packets to move); more columns get wider boxes, so
    // their text stays readable on a projector.
    let share = if columns <= 2 { 0.56 } else { 0.63 };
    let w = (col_w * share).min(col_w - 40.0).clamp(90.0, 360.0);
    // Narrow boxes (long pipelines) may grow taller, so their text can stay large and wrap.
    let h = (row_h * 0.84).min(row_h - 12.0).clamp(64.0, 230.0).min(w * 1.35);
    let size = vec2(w, h);
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
        painter.text(rect.center(), Align2::CENTER_CENTER, tr!("stage.empty"), FontId::proportional(22.0), weak);
        ui.allocate_rect(rect, Sense::hover());
        return actions;
    };

    let mech = spec.mechanism;
    let running = model.is_running();
    // The title says what the run on stage is; once it is over (and the controls may already
    // say something else), that it was the last run.
    // Shared memory says which wake-up this run uses, not the three it could.
    let described = match (mech, spec.shm_wait) {
        (MechanismId::Shm, crate::mechanism::ShmWait::Spin) => tr!("mechanism.shm_spin"),
        (MechanismId::Shm, crate::mechanism::ShmWait::Futex) => tr!("mechanism.shm_futex"),
        (MechanismId::Shm, crate::mechanism::ShmWait::Semaphore) => tr!("mechanism.shm_semaphore"),
        _ => mechanism_description(mech),
    };
    let title = if running {
        format!("{} · {}", mech.as_str(), described)
    } else {
        tr!("stage.last_run", mechanism = mech.as_str(), pattern = pattern_label(spec.pattern), what = described)
    };
    let title_color = if running { text } else { weak };
    let width = rect.width() - 16.0;
    let mut caption_y = rect.top() + 8.0;
    let mut caption = |text: String, size: f32, color: Color32| {
        let galley = painter.layout(text, FontId::proportional(size), color, width);
        let pos = pos2(rect.center().x - galley.size().x / 2.0, caption_y);
        caption_y += galley.size().y + 3.0;
        painter.galley(pos, galley, color);
    };
    caption(title, 16.0, title_color);
    let cpus = ui_state.cpus;
    // Pinned placements name nodes and CPUs in the words `bench` prints (English).
    let placement = match spec.pin.as_deref() {
        None | Some([]) => tr!("controls.unpinned"),
        Some(_) => placement_text(topology, spec.pin.as_deref()),
    };
    let placement = if cpus == 1 {
        tr!("stage.placement_one", placement = placement)
    } else {
        tr!("stage.placement_many", placement = placement, cpus = cpus)
    };
    caption(placement, 13.0, weak);
    let packets = model.packets(now_nanos, ui_state.animate);
    if running {
        let scale = match model.pace {
            Pace::RealTime => {
                let micro_millis = STAGE_NANOS_PER_LATENCY_MICRO / 1_000_000;
                let mut t = tr!("stage.scale", ms = micro_millis);
                if packets.iter().any(|p| p.clamp == Clamp::Max) {
                    t += &tr!(
                        "stage.scale_slower",
                        us = MAX_CROSSING_NANOS / STAGE_NANOS_PER_LATENCY_MICRO,
                        s = MAX_CROSSING_NANOS as f64 / 1e9
                    );
                }
                if packets.iter().any(|p| p.clamp == Clamp::Min) {
                    t += &tr!(
                        "stage.scale_faster",
                        us = MIN_CROSSING_NANOS / STAGE_NANOS_PER_LATENCY_MICRO,
                        ms = MIN_CROSSING_NANOS / 1_000_000
                    );
                }
                t
            }
            Pace::SlowMotion { ops_per_sec } => tr!("stage.slow_motion", rate = format!("{ops_per_sec:.1}")),
            Pace::Step => tr!("stage.step_mode"),
        };
        caption(scale, 13.0, weak);
    }
    if model.sample_every > 1 {
        caption(tr!("stage.sampled", n = thousands(model.sample_every)), 13.0, weak);
    }
    if model.off_stage > 0 {
        let total = model.drawn + model.off_stage;
        caption(tr!("stage.one_round_trip", drawn = thousands(model.drawn), total = thousands(total)), 13.0, weak);
    }
    let stage =
        Rect::from_min_max(pos2(rect.left() + 8.0, caption_y + 8.0), pos2(rect.right() - 8.0, rect.bottom() - 10.0));
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
            // The lane's buffer, as the end that still runs reads it from the kernel or the ring;
            // a socket also has the sender's own send queue.
            // Only while the run goes on: once its processes are gone, so are their buffers, and a
            // last reading would sit on screen as if something were still queued.
            let (queue, send_queue) = if model.is_running() { model.lane_fill(l.link, from, to) } else { (None, None) };
            if let Some(q) = queue.or(send_queue) {
                let mut label = match (q.unit, q.capacity) {
                    (QueuedUnit::Bytes, Some(c)) => {
                        tr!("stage.queued_bytes_of", amount = human_bytes(q.amount), capacity = human_bytes(c))
                    }
                    (QueuedUnit::Bytes, None) => tr!("stage.queued_bytes", amount = human_bytes(q.amount)),
                    (QueuedUnit::Messages, Some(c)) => tr!("stage.queued_msgs_of", amount = q.amount, capacity = c),
                    (QueuedUnit::Messages, None) => tr!("stage.queued_msgs", amount = q.amount),
                };
                if let (Some(_), Some(sq)) = (queue, send_queue) {
                    label.push_str(&tr!("stage.and_sender_queue", amount = human_bytes(sq.amount)));
                } else if q.at_sender {
                    label = tr!("stage.sender_queue", amount = human_bytes(q.amount));
                }
                let mid = a + (b - a) * 0.5;
                let above = if two_way && from.index() > to.index() { 20.0 } else { -20.0 };
                let bar = Rect::from_center_size(mid + vec2(0.0, above), vec2(90.0, 8.0));
                // A bar only where the buffer's size is known: an empty outline under "queued
                // 227 KiB" (a TCP receive queue, which the kernel sizes as it goes) reads as empty.
                if let Some(c) = q.capacity {
                    painter.rect_stroke(bar, 2.0, Stroke::new(1.0, weak), StrokeKind::Inside);
                    let mut filled = bar;
                    filled.set_width(bar.width() * (q.amount as f32 / c.max(1) as f32).clamp(0.0, 1.0));
                    painter.rect_filled(filled, 2.0, role_color(to).gamma_multiply(0.7));
                }
                // The words wrap to the lane's length (a lesson's narrow stage too), a line per part.
                let width = (b - a).length() - 8.0;
                if width < 56.0 {
                    continue; // no room for words on a short lane; the bar says it
                }
                let galley = painter.layout(label.replace(" · ", "\n"), FontId::proportional(11.0), weak, width);
                let size = galley.size();
                let top = if above < 0.0 { bar.top() - 4.0 - size.y } else { bar.bottom() + 4.0 };
                painter.galley(pos2(bar.center().x - size.x / 2.0, top), galley, weak);
            }
        }
    }

    // Packets: the newest MAX_PACKETS, drawn oldest first so the newest is on top.
    let skip = packets.len().saturating_sub(MAX_PACKETS);
    let k = (nodes.first().map_or(100.0, |n| n.height()) / 110.0).clamp(0.8, 1.6);
    let shown: Vec<_> = packets.iter().skip(skip).collect();
    for (n, p) in shown.iter().enumerate() {
        if p.from.index() >= nodes.len() || p.to.index() >= nodes.len() {
            continue;
        }
        let (a, b) = lane_ends(p.from, p.to);
        let at = a + (b - a) * p.along as f32;
        // Long sequence numbers (millions into a stream) keep their last digits: the packet must
        // fit its lane, and the digits that change are the ones that tell packets apart.
        let digits = p.seq.to_string();
        let label = if digits.len() > 5 { format!("…{}", &digits[digits.len() - 4..]) } else { digits };
        let packet = Rect::from_center_size(at, vec2((14.0 + 7.0 * label.chars().count() as f32) * k, 18.0 * k));
        painter.rect_filled(packet, CornerRadius::same(4), packet_color(topology, p.from, p.to));
        // A packet a newer one (drawn later, on top) overlaps keeps its colour but not its number:
        // overlapping digits would read as garbage.
        let covered = shown[n + 1..].iter().any(|q| {
            let (qa, qb) = lane_ends(q.from, q.to);
            (q.from, q.to) == (p.from, p.to) && ((qa + (qb - qa) * q.along as f32) - at).length() < packet.width()
        });
        if !covered {
            painter.text(packet.center(), Align2::CENTER_CENTER, label, FontId::monospace(11.0 * k), Color32::WHITE);
        }
    }

    // Processes.
    let sent_shown = model.sent_shown();
    for (i, node) in nodes.iter().enumerate() {
        let role = Role(i as u16);
        let Some(w) = model.worker_for(role) else { continue };
        let name = node_label(topology, role);
        let id = ui.scope_id().with(("process", i));
        let response = ui.interact(*node, id, Sense::click());
        let label = tr!("stage.process", name = name);
        response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Button, true, &label));
        draw_node(&painter, *node, w, role, model, sent_shown.get(i).copied(), ui);
        response.context_menu(|ui| {
            ui.label(format!("{name} · {}", tr!("stage.pid", pid = w.pid)));
            ui.separator();
            for (what, signal) in [
                (tr!("stage.kill"), WorkerSignal::Kill),
                (tr!("stage.stop"), WorkerSignal::Stop),
                (tr!("stage.continue"), WorkerSignal::Continue),
            ] {
                // Continue only what is stopped, stop only what is not.
                let stopped = w.state == ProcState::Stopped;
                let makes_sense = w.state.is_alive()
                    && match signal {
                        WorkerSignal::Kill => true,
                        WorkerSignal::Stop => !stopped,
                        WorkerSignal::Continue => stopped,
                    };
                if ui.add_enabled(makes_sense, egui::Button::new(what)).clicked() {
                    actions.push((role, signal));
                    ui.close();
                }
            }
        });
        response.on_hover_text(tr!("stage.process_hint"));
    }
    ui.allocate_rect(rect, Sense::hover());
    actions
}

fn draw_node(
    painter: &egui::Painter,
    node: Rect,
    w: &WorkerView,
    role: Role,
    model: &Model,
    sent_shown: Option<u64>,
    ui: &egui::Ui,
) {
    let name = model.topology.as_ref().map_or_else(|| role.as_str(), |t| node_label(t, role));
    let visuals = ui.visuals();
    let color = role_color(role);
    let state_c = state_color(&w.state);
    let at_gate = matches!(w.state, ProcState::AtGate { .. });
    painter.rect_filled(node, 10.0, visuals.extreme_bg_color);
    painter.rect_stroke(node, 10.0, Stroke::new(if at_gate { 4.0 } else { 2.5 }, color), StrokeKind::Inside);
    let title = if w.shares_process { tr!("stage.thread", name = name) } else { name.to_string() };
    // Text scales with the box: small boxes (long pipelines, small windows) get smaller text so
    // it stays inside, big ones (a large screen) bigger text so it reads from the back row.
    // Narrow boxes (long pipelines) keep text near full size and let it wrap onto their extra
    // height; the height bounds it so the last line (sent/got) always fits.
    let by_width = if node.width() < 160.0 { (node.width() / 110.0).min(1.0) } else { node.width() / 160.0 };
    let k = by_width.min((node.height() - 14.0) / 110.0).clamp(0.7, 2.2);
    let painter = painter.with_clip_rect(node.shrink(2.0));
    let x = node.left() + 10.0 * k.max(1.0);
    let wrap = node.right() - x - 6.0;
    let mut y = node.top() + 8.0 * k.max(1.0);
    // Name and PID share the first line: one line less leaves room for bigger text.
    let format = |font_id: FontId, color: Color32| egui::TextFormat {
        font_id,
        color,
        valign: egui::Align::BOTTOM,
        ..Default::default()
    };
    let pid = tr!("stage.pid", pid = w.pid);
    let name_and_pid = |separator: f32, newline: bool| {
        let mut job = egui::text::LayoutJob::default();
        job.append(&title, 0.0, format(FontId::proportional(18.0 * k), color));
        let pid = if newline { format!("\n{pid}") } else { pid.clone() };
        job.append(&pid, separator, format(FontId::monospace(14.0 * k), visuals.text_color()));
        job
    };
    // On one line when it fits; otherwise the PID goes below, whole.
    let job = name_and_pid(8.0 * k, false);
    let job = if painter.layout_job(job.clone()).size().x <= wrap { job } else { name_and_pid(0.0, true) };
    let galley = painter.layout_job(job);
    let h = galley.size().y;
    painter.galley(pos2(x, y), galley, color);
    y += h + 2.0 * k;
    let mut line = |painter: &egui::Painter, text: String, font: FontId, color: Color32, dot: Option<Color32>| {
        let indent = if dot.is_some() { 18.0 * k } else { 0.0 };
        if let Some(c) = dot {
            painter.circle_filled(pos2(x + 6.0 * k, y + 9.0 * k), 6.0 * k, c);
        }
        let galley = painter.layout(text, font, color, wrap - indent);
        let h = galley.size().y;
        painter.galley(pos2(x + indent, y), galley, color);
        y += h + 2.0 * k;
    };
    line(&painter, w.state.label(), FontId::proportional(15.0 * k), visuals.text_color(), Some(state_c));
    let Some(p) = model.progress.get(role.index()) else { return };
    let sent = sent_shown.unwrap_or(p.sent);
    let small = FontId::proportional(13.0 * k);
    line(
        &painter,
        // Narrow boxes break the line between its parts, not inside one ("sent / 40").
        tr!(
            "stage.cpu_sent",
            cpu = format!("{:.0}", w.cpu_percent),
            sep = if wrap < 13.0 * k * 14.0 { "\n" } else { " · " },
            sent = thousands(sent),
            got = thousands(p.accounting.unique)
        ),
        small,
        visuals.weak_text_color(),
        None,
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

/// A node's name in the window's language: "producer", "relay 2", "消费者 1".
pub fn node_label(t: &crate::traffic::spec::Topology, role: Role) -> String {
    use crate::traffic::spec::Program;
    let Some((program, nth)) = t.node_parts(role) else { return role.as_str() };
    let word = match program {
        Program::Pinger => tr!("role.pinger"),
        Program::Echo => tr!("role.echo"),
        Program::Producer => tr!("role.producer"),
        Program::Relay => tr!("role.relay"),
        Program::Consumer => tr!("role.consumer"),
    };
    match nth {
        Some(n) => format!("{word} {n}"),
        None => word,
    }
}
