//! The compare view driven through egui_kittest: a 2 mechanisms × 2 sizes comparison run from
//! the UI with real processes, and both mechanisms in the plot's series; with a known result
//! file, the numbers a person can check: the table and its copy, a bar's hover, the PNG.

mod common;
#[path = "common/ui.rs"]
mod ui;

use std::time::{Duration, Instant};

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use ipc_lab::app::compare_ui::Chart;
use ipc_lab::app::{AppOptions, IpcLabApp, View};
use ipc_lab::mechanism::MechanismId;
use ipc_lab::traffic::compare::{Metric, against_size};
use ipc_lab::traffic::spec::{Pattern, RunSpec};

/// The tests here count this process's children: one at a time.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The window is redrawn only between runs: whenever the runner asks for a repaint, none of its
/// runs' processes is alive (a frame drawn in software took CPU from cross-core runs and put
/// milliseconds into their p99).
#[test]
fn a_comparison_asks_for_repaints_only_between_runs() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let repaints = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Vec<u32>>::new()));
    let seen = repaints.clone();
    let repaint: std::sync::Arc<dyn Fn() + Send + Sync> = std::sync::Arc::new(move || {
        let alive = common::children_of(std::process::id());
        seen.lock().unwrap_or_else(|p| p.into_inner()).push(alive);
    });
    let specs: Vec<_> = [MechanismId::Pipe, MechanismId::Unix]
        .into_iter()
        // Paced to last about half a second each, so progress arrives while they run.
        .map(|m| RunSpec { warmup: 100, rate_per_sec: Some(2000.0), ..common::spec(m, Pattern::PingPong, 64, 1000) })
        .collect();
    let runner = ipc_lab::traffic::compare::Runner::start(specs, common::exe(), repaint).expect("starts");
    let deadline = Instant::now() + Duration::from_secs(60);
    while runner.state().running {
        assert!(Instant::now() < deadline, "the comparison did not finish");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(runner.state().reports.len(), 2, "{:?}", runner.state().failures);
    let repaints = repaints.lock().unwrap_or_else(|p| p.into_inner());
    assert!(repaints.len() >= 3, "a repaint before the first run and after each: {}", repaints.len());
    assert!(repaints.iter().all(|alive| alive.is_empty()), "repaints asked while processes ran: {repaints:?}");
}

#[test]
fn a_two_by_two_comparison_from_the_ui_puts_both_mechanisms_in_the_plot() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let mut h = ui::harness(AppOptions::default());
    h.get_by_label("Compare").click();
    h.run_steps(2);
    {
        let c = &mut h.state_mut().ui_state.compare;
        for (m, on) in c.mechanisms.iter_mut() {
            *on = matches!(m, MechanismId::Pipe | MechanismId::Unix);
        }
        c.count = 300;
    }
    h.get_by_label("64 B and 4 KiB").click();
    h.run_steps(2);
    h.get_by_label("▶ Run the comparison").click();
    ui::step_until(&mut h, Duration::from_secs(60), "the comparison to finish", |app| {
        app.ui_state.compare.runner.as_ref().is_some_and(|r| !r.state().running)
    });
    h.run_steps(3);
    let runs = h.state().ui_state.compare.own_runs();
    assert_eq!(runs.len(), 4, "2 mechanisms × 2 sizes");
    // Unless told otherwise, both processes of a run share one core.
    assert!(
        runs.iter().all(|r| r.placement == "both on CPU 0"),
        "{:?}",
        runs.iter().map(|r| &r.placement).collect::<Vec<_>>()
    );
    let series = against_size(&runs, "ping-pong", Metric::P50);
    let names: Vec<&str> = series.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["pipe", "unix"]);
    assert!(series.iter().all(|s| s.points.iter().map(|p| p.0).eq([64.0, 4096.0])), "{series:?}");
    h.get_by_label_contains("4 of 4 runs done");

    // The distributions at 64 B, one line each; with one placement there is nothing to set apart.
    h.get_by_label("Latency distribution").click();
    h.run_steps(3);
    let cdfs = ipc_lab::traffic::compare::cdf_at(&runs, "ping-pong", 64);
    assert_eq!(cdfs.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["pipe", "unix"]);
    assert!(cdfs.iter().all(|s| s.points.last().is_some_and(|p| p.1 == 1.0)), "{cdfs:?}");
    h.get_by_label_contains("the share of messages at or below each latency");
    assert!(h.state().ui_state.compare.plot_rect.is_some(), "the distribution is drawn");
    h.get_by_label("Same core vs across cores").click();
    h.run_steps(3);
    h.get_by_label_contains("Tick two placements");
    h.get_by_label("Latency vs size").click();
    h.run_steps(3);

    // The chart as a PNG: the screenshot comes a frame later, cut to the plot.
    let base = std::env::temp_dir().join(format!("ipclab-test-compare-{}", std::process::id()));
    h.state_mut().ui_state.compare.file_path = base.with_extension("json").to_str().expect("utf-8").into();
    h.get_by_label("Export PNG").click();
    let png = base.with_extension("png");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !png.exists() {
        assert!(Instant::now() < deadline, "no PNG written");
        h.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(100));
    let bytes = std::fs::read(&png).expect("the PNG");
    let _ = std::fs::remove_file(&png);
    assert!(bytes.starts_with(b"\x89PNG"), "a PNG file");
    assert!(bytes.len() > 2000, "a chart, not an empty image: {} bytes", bytes.len());
}

/// The Compare view with `tests/data/bench-result.json` (pipe and thread, 64 B and 4 KiB,
/// ping-pong, unpinned) loaded and nothing run.
fn with_known_result() -> Harness<'static, IpcLabApp> {
    let mut h = ui::harness(AppOptions::default());
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/bench-result.json");
    let set = ipc_lab::traffic::compare::ResultSet::load(&path).expect("a result file");
    h.state_mut().ui_state.view = View::Compare;
    h.state_mut().ui_state.compare.sets.push(set);
    h.run_steps(3);
    h
}

/// Every text egui painted last frame, whole (a hover's two lines as one).
fn painted(h: &Harness<'_, IpcLabApp>) -> Vec<String> {
    fn walk(shape: &egui::Shape, out: &mut Vec<String>) {
        match shape {
            egui::Shape::Text(t) => out.push(t.galley.text().to_string()),
            egui::Shape::Vec(shapes) => shapes.iter().for_each(|s| walk(s, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for clipped in &h.output().shapes {
        walk(&clipped.shape, &mut out);
    }
    out
}

/// The numbers of the file, as `ipc-lab bench` printed them, in the one unit rule, tab-separated.
const KNOWN_TABLE: &str = "\
mechanism\tsize\tcount\tp50\tp90\tp99\tp99.9\tmax\tmean\tround trips/s\tMB/s
pipe\t64 B\t2,000\t2.25 µs\t2.45 µs\t2.59 µs\t6.39 µs\t46.3 µs\t2.31 µs\t424,969\t54.4
pipe\t4 KiB\t2,000\t2.67 µs\t2.78 µs\t3.06 µs\t26.9 µs\t43.0 µs\t2.75 µs\t352,145\t2884.8
thread\t64 B\t2,000\t4.07 µs\t4.10 µs\t4.38 µs\t379 µs\t3.66 ms\t7.97 µs\t124,735\t16.0
thread\t4 KiB\t2,000\t36.0 µs\t39.1 µs\t2.00 ms\t4.51 ms\t4.91 ms\t74.2 µs\t13,421\t109.9
";

#[test]
fn the_table_shows_a_known_result_and_copy_puts_it_on_the_clipboard_tab_separated() {
    let mut h = with_known_result();
    // The numbers beside the chart, with their units: pipe's p50 at 64 B, thread's p99 at 4 KiB
    // (2,001,919 ns: ms, not 2001.9 µs), its rate.
    h.get_by_label("2.25 µs");
    h.get_by_label("2.00 ms");
    h.get_by_label("13,421");
    h.get_by_label("Copy table").click();
    h.run_steps(1);
    let copied: Vec<&String> = h
        .output()
        .platform_output
        .commands
        .iter()
        .filter_map(|c| match c {
            egui::OutputCommand::CopyText(t) => Some(t),
            _ => None,
        })
        .collect();
    assert_eq!(copied, [KNOWN_TABLE], "the clipboard gets the table");
    h.run_steps(1);
    h.get_by_label("copied 4 rows as tab-separated text");
}

#[test]
fn hovering_a_percentile_bar_says_its_latency_with_its_unit() {
    let mut h = with_known_result();
    h.state_mut().ui_state.compare.chart = Chart::Percentiles;
    h.state_mut().ui_state.compare.bar_size = 64;
    h.run_steps(3);
    let area = h.state().ui_state.compare.plot_area.expect("the bars are drawn");
    // Every bar stands on the same floor (0.1 µs): along a line a little above it (near 1 µs)
    // the pointer meets each.
    let mut seen = Vec::new();
    let mut x = area.left() + 2.0;
    while x < area.right() {
        h.hover_at(egui::pos2(x, area.bottom() - area.height() * 0.15));
        h.run_steps(1);
        seen.extend(painted(&h).into_iter().filter(|t| t.contains(" · p")));
        x += 4.0;
    }
    // Pipe's p50 at 64 B is 2,249 ns (not log10 of it, plus one: "1.352"); thread's p99.9 is
    // 378,623 ns.
    assert!(seen.iter().any(|t| t == "pipe · p50\n2.25 µs"), "{seen:?}");
    assert!(seen.iter().any(|t| t == "thread · p99.9\n379 µs"), "{seen:?}");
}

#[test]
fn an_exported_png_is_the_chart_as_seen_with_its_title_axes_and_legend() {
    let mut h = with_known_result();
    h.run_steps(2);
    let (block, area) = {
        let c = &h.state().ui_state.compare;
        (c.plot_rect.expect("a chart"), c.plot_area.expect("a plot"))
    };
    // The block holds the title, caption and legend above the plot, the y axis left of it and
    // the x axis below it.
    assert!(block.top() + 40.0 < area.top(), "{block:?} {area:?}");
    assert!(block.left() + 20.0 < area.left(), "{block:?} {area:?}");
    assert!(block.bottom() > area.bottom() + 15.0, "{block:?} {area:?}");
    let base = std::env::temp_dir().join(format!("ipclab-test-export-{}", std::process::id()));
    h.state_mut().ui_state.compare.file_path = base.with_extension("json").to_str().expect("utf-8").into();
    h.get_by_label("Export PNG").click();
    let png = base.with_extension("png");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !png.exists() || h.state().ui_state.compare.message.is_none() {
        assert!(Instant::now() < deadline, "no PNG written");
        h.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&png).expect("the PNG")));
    let info = decoder.read_info().expect("a PNG").info().clone();
    let _ = std::fs::remove_file(&png);
    let ppp = h.ctx.pixels_per_point();
    // The whole block and a margin, not the plot's inside alone (what the PNG was before).
    let (w, hgt) = (info.width as f32 / ppp, info.height as f32 / ppp);
    let margin = 2.0 * ipc_lab::app::compare_ui::PNG_MARGIN;
    assert!(
        (w - block.width() - margin).abs() <= 2.0 && (hgt - block.height() - margin).abs() <= 2.0,
        "{w}×{hgt} for {block:?}"
    );
    assert!(hgt > area.height() + 55.0 && w > area.width() + 20.0, "{w}×{hgt} for the plot {area:?}");
}

/// A comparison measures alone: a live-stage run started earlier is stopped when it begins, its
/// processes end, and the view says why.
#[test]
fn a_comparison_stops_a_run_left_going_in_another_view() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let mut h = ui::harness(AppOptions {
        setup: Some(ipc_lab::traffic::setup::Setup::resolve("stream").expect("stream")),
        autostart: true,
        ..Default::default()
    });
    ui::step_until(&mut h, Duration::from_secs(10), "the stream running", |app| {
        app.model.is_running() && app.model.workers.iter().all(|w| w.pid > 0)
    });
    let pids: Vec<u32> = h.state().model.workers.iter().map(|w| w.pid).collect();
    h.get_by_label("Compare").click();
    h.run_steps(2);
    {
        let c = &mut h.state_mut().ui_state.compare;
        for (m, on) in c.mechanisms.iter_mut() {
            *on = *m == MechanismId::Pipe;
        }
        c.count = 300;
    }
    h.get_by_label("64 B and 4 KiB").click();
    h.run_steps(2);
    h.get_by_label("▶ Run the comparison").click();
    ui::step_until(&mut h, Duration::from_secs(10), "the stage run stopped", |app| !app.model.is_running());
    for pid in pids {
        let deadline = Instant::now() + Duration::from_secs(5);
        while ipc_lab::mechanism::process_alive(pid) {
            assert!(Instant::now() < deadline, "pid {pid} kept running beside the comparison");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    assert!(h.state().ui_state.compare.message.as_deref().is_some_and(|m| m.contains("stopped")));
    ui::step_until(&mut h, Duration::from_secs(60), "the comparison to finish", |app| {
        app.ui_state.compare.runner.as_ref().is_some_and(|r| !r.state().running)
    });
}
