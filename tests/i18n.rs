//! The translation catalogs (`locales/*.yml`): both languages have the same keys with the same
//! placeholders, every key the code looks up exists, and the Chinese one is translated.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// A catalog file flattened to `a.b.c -> text`, as rust-i18n reads it.
fn catalog(lang: &str) -> BTreeMap<String, String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("locales/{lang}.yml"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let value: serde_yaml::Value = serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = BTreeMap::new();
    flatten("", &value, &mut out);
    out
}

fn flatten(prefix: &str, value: &serde_yaml::Value, out: &mut BTreeMap<String, String>) {
    match value {
        serde_yaml::Value::Mapping(m) => {
            for (k, v) in m {
                let k = k.as_str().expect("keys are strings");
                let key = if prefix.is_empty() { k.to_string() } else { format!("{prefix}.{k}") };
                flatten(&key, v, out);
            }
        }
        serde_yaml::Value::String(s) => {
            out.insert(prefix.to_string(), s.clone());
        }
        other => panic!("{prefix}: not text: {other:?}"),
    }
}

/// The `%{name}` placeholders of a text.
fn placeholders(text: &str) -> BTreeSet<String> {
    text.split("%{").skip(1).filter_map(|s| s.split_once('}')).map(|(name, _)| name.to_string()).collect()
}

#[test]
fn both_catalogs_have_the_same_keys_and_placeholders() {
    let en = catalog("en");
    let zh = catalog("zh-CN");
    let missing_in_zh: Vec<&String> = en.keys().filter(|k| !zh.contains_key(*k)).collect();
    let missing_in_en: Vec<&String> = zh.keys().filter(|k| !en.contains_key(*k)).collect();
    assert!(missing_in_zh.is_empty(), "keys missing in locales/zh-CN.yml: {missing_in_zh:?}");
    assert!(missing_in_en.is_empty(), "keys missing in locales/en.yml: {missing_in_en:?}");
    let differ: Vec<String> = en
        .iter()
        .filter(|(k, v)| placeholders(v) != placeholders(&zh[*k]))
        .map(|(k, v)| format!("{k}: {:?} vs {:?}", placeholders(v), placeholders(&zh[k])))
        .collect();
    assert!(differ.is_empty(), "placeholders differ between en and zh-CN: {differ:#?}");
}

#[test]
fn the_chinese_catalog_is_translated() {
    let en = catalog("en");
    let zh = catalog("zh-CN");
    // Texts that are the same in every language: names of languages, numbers with units.
    let same_everywhere = [
        "lang.en",
        "lang.zh_cn",
        "programs.running_for",
        "programs.seconds",
        "programs.value_ok",
        "say.c_step",
        "say.ended",
        "controls.wait_futex",
        "mpi.engine_mpi",
    ];
    let untranslated: Vec<&String> =
        en.keys().filter(|k| !same_everywhere.contains(&k.as_str()) && zh.get(*k) == en.get(*k)).collect();
    assert!(untranslated.is_empty(), "zh-CN says these in English: {untranslated:?}");
}

/// Every `tr!("key"` in `src/`, with the file it is in.
fn keys_used() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut dirs = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("src/ reads") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("a source file reads");
            for (at, _) in text.match_indices("tr!(") {
                // `tr!`, not `include_str!`; the macro's own definition has no literal key.
                if text[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_') {
                    continue;
                }
                let piece = &text[at + "tr!(".len()..];
                let Some(rest) = piece.trim_start().strip_prefix('"') else { continue };
                let Some((key, _)) = rest.split_once('"') else { continue };
                out.push((key.to_string(), path.display().to_string()));
            }
        }
    }
    out
}

#[test]
fn every_key_the_code_looks_up_is_in_the_catalog() {
    let en = catalog("en");
    let used = keys_used();
    assert!(used.len() > 200, "the scan found only {} keys: is it still reading the sources?", used.len());
    let missing: Vec<String> =
        used.iter().filter(|(k, _)| !en.contains_key(k)).map(|(k, file)| format!("{k} ({file})")).collect();
    assert!(missing.is_empty(), "keys not in locales/en.yml: {missing:#?}");
}

#[test]
fn every_key_in_the_catalog_is_used() {
    let used: BTreeSet<String> = keys_used().into_iter().map(|(k, _)| k).collect();
    let unused: Vec<String> = catalog("en").into_keys().filter(|k| !used.contains(k)).collect();
    assert!(unused.is_empty(), "keys no code looks up (remove them from both catalogs): {unused:?}");
}

#[test]
fn a_key_is_looked_up_in_the_language_of_the_thread() {
    use ipc_lab::lessons::Lang;
    ipc_lab::i18n::set_lang(Lang::ZhCn);
    assert_eq!(ipc_lab::i18n::text("controls.start"), "开始");
    // Another thread has its own language: English unless told otherwise.
    let other = std::thread::spawn(|| ipc_lab::i18n::text("controls.start")).join().expect("thread");
    assert_eq!(other, "Start");
    ipc_lab::i18n::set_lang(Lang::En);
    assert_eq!(ipc_lab::i18n::text("controls.start"), "Start");
}
