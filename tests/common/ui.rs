//! The app under egui_kittest, for the UI tests (included by path, beside `common`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use egui_kittest::Harness;
use ipc_lab::app::{AppOptions, IpcLabApp};
use ipc_lab::lessons::Lang;

/// The app in a window of `size` points, in English unless the test asks for another language
/// (whatever LANG says), since the tests find widgets by their English labels.
pub fn harness_at(options: AppOptions, size: [f32; 2]) -> Harness<'static, IpcLabApp> {
    let options = AppOptions { lang: options.lang.or(Some(Lang::En)), ..options };
    let app = IpcLabApp::new(super::common::exe(), Arc::new(|| {}), options).expect("app");
    Harness::builder().with_size(size).build_ui_state(|ui, app: &mut IpcLabApp| app.ui_root(ui), app)
}

/// The app at 1280×800.
#[allow(dead_code)]
pub fn harness(options: AppOptions) -> Harness<'static, IpcLabApp> {
    harness_at(options, [1280.0, 800.0])
}

/// Steps frames until `cond` holds, failing after `within` with what the stage and the Programs
/// view say.
pub fn step_until(h: &mut Harness<'_, IpcLabApp>, within: Duration, what: &str, cond: impl Fn(&IpcLabApp) -> bool) {
    let deadline = Instant::now() + within;
    loop {
        h.step();
        if cond(h.state()) {
            return;
        }
        let app = h.state();
        let program = &app.ui_state.program.shared;
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; stage {:?}; programs {:?} {:?}",
            app.model.status,
            program.message,
            program.model.as_ref().map(|m| (&m.verdict, &m.log))
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}
