//! The UI's words come from one translation catalog per language, `locales/en.yml` and
//! `locales/zh-CN.yml`, compiled in by rust-i18n; code names a key (`tr!("controls.start")`), never
//! a sentence. The language is the app's, not the process's: rust-i18n's own locale is one
//! global, and two windows (or two UI tests on parallel threads) must not change each other's
//! words. So each frame sets the language of the thread that draws it, and `tr!` looks the key up
//! in that language. Any other thread (the CLI, the sessions) speaks English.

use std::cell::Cell;

use crate::lessons::Lang;

thread_local! {
    static LANG: Cell<Lang> = const { Cell::new(Lang::En) };
}

/// The language `tr!` uses on this thread from now on.
pub fn set_lang(lang: Lang) {
    LANG.with(|l| l.set(lang));
}

/// The language `tr!` uses on this thread (English unless a frame said otherwise).
pub fn lang() -> Lang {
    LANG.with(|l| l.get())
}

/// The catalog's name for this thread's language.
pub fn locale() -> &'static str {
    lang().as_str()
}

/// Looks a key up in this thread's language, with named arguments:
/// `tr!("lessons.status_running", n = count)`. Gives a `String`.
#[macro_export]
macro_rules! tr {
    ($key:tt) => {
        rust_i18n::t!($key, locale = $crate::i18n::locale()).into_owned()
    };
    ($key:tt, $($args:tt)*) => {
        rust_i18n::t!($key, locale = $crate::i18n::locale(), $($args)*).into_owned()
    };
}

/// `key` in this thread's language, for callers outside this crate (`tr!` expands to a lookup
/// only this crate can make).
pub fn text(key: &str) -> String {
    rust_i18n::t!(key, locale = locale()).into_owned()
}

/// `key` in `lang`, or `None` when the catalog has no such key (a lesson names UI words by key,
/// and a key that does not exist is an error there, not a word on the page).
pub fn lookup(key: &str, lang: Lang) -> Option<String> {
    crate::_rust_i18n_try_translate(lang.as_str(), key).map(std::borrow::Cow::into_owned)
}

/// Digits in groups of three, as people read large numbers: 65536 as "65,536" (both languages).
pub fn grouped(n: impl std::fmt::Display) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A latency (or any short duration) for people, one rule on every screen: the unit is picked
/// from the value, so "2095.1 µs" never stands beside "2.10 ms". Under 1 µs in ns, under 1 ms in
/// µs, under 1 s in ms, else s; three significant digits (7.10 µs, 61.2 µs, 643 ns, 2.10 ms).
/// The value is rounded first, so 999.7 ns reads "1.00 µs", not "1000 ns".
pub fn latency_text(nanos: f64) -> String {
    if !nanos.is_finite() || nanos < 0.0 {
        return "–".into();
    }
    if nanos == 0.0 {
        return "0 ns".into();
    }
    // Three significant digits, but never below a whole nanosecond (that is the clock's grain).
    let digits = nanos.log10().floor();
    let grain = 10f64.powf(digits - 2.0).max(1.0);
    let rounded = (nanos / grain).round() * grain;
    let (value, unit) = if rounded < 1e3 {
        (rounded, "ns")
    } else if rounded < 1e6 {
        (rounded / 1e3, "µs")
    } else if rounded < 1e9 {
        (rounded / 1e6, "ms")
    } else {
        (rounded / 1e9, "s")
    };
    let decimals = if value >= 100.0 || unit == "ns" {
        0
    } else if value >= 10.0 {
        1
    } else {
        2
    };
    format!("{value:.decimals$} {unit}")
}

/// A grid mark's latency on a log axis (1, 2 or 5 of a decade): "500 ns", "2 µs", "1 ms", with
/// no trailing zeros, in the units `latency_text` picks.
pub fn latency_tick(nanos: f64) -> String {
    let (value, unit) = if nanos < 1e3 {
        (nanos, "ns")
    } else if nanos < 1e6 {
        (nanos / 1e3, "µs")
    } else if nanos < 1e9 {
        (nanos / 1e6, "ms")
    } else {
        (nanos / 1e9, "s")
    };
    // Marks sit at 1, 2, 5 × 10^k: whole numbers in their unit, but for tenths of a ns.
    let value = (value * 1e3).round() / 1e3;
    format!("{value} {unit}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_take_the_unit_their_size_asks_for_with_three_significant_digits() {
        assert_eq!(latency_text(643.0), "643 ns");
        assert_eq!(latency_text(7.0), "7 ns");
        assert_eq!(latency_text(0.0), "0 ns");
        assert_eq!(latency_text(7_100.0), "7.10 µs");
        assert_eq!(latency_text(2_249.0), "2.25 µs");
        assert_eq!(latency_text(61_151.0), "61.2 µs");
        assert_eq!(latency_text(378_623.0), "379 µs");
        // The case of the issue: 2095.1 µs is 2.10 ms.
        assert_eq!(latency_text(2_095_100.0), "2.10 ms");
        assert_eq!(latency_text(12_345_678.0), "12.3 ms");
        assert_eq!(latency_text(4_509_695.0), "4.51 ms");
        assert_eq!(latency_text(1_500_000_000.0), "1.50 s");
        // Rounding never leaves a value at 1000 of a unit.
        assert_eq!(latency_text(999.7), "1.00 µs");
        assert_eq!(latency_text(999_600.0), "1.00 ms");
        assert_eq!(latency_text(99_960.0), "100 µs");
        assert_eq!(latency_text(f64::NAN), "–");
    }

    #[test]
    fn log_axis_ticks_read_in_the_same_units() {
        assert_eq!(latency_tick(500.0), "500 ns");
        assert_eq!(latency_tick(1_000.0), "1 µs");
        assert_eq!(latency_tick(20_000.0), "20 µs");
        assert_eq!(latency_tick(2_000_000.0), "2 ms");
        assert_eq!(latency_tick(100.0), "100 ns");
        assert_eq!(latency_tick(0.5), "0.5 ns");
        assert_eq!(latency_tick(1e9), "1 s");
    }
}
