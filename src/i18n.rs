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
