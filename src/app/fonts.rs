//! Chinese text needs glyphs egui does not ship. At start the app looks for a font on the system
//! that has them (fontdb lists the installed fonts; ttf-parser checks a face really covers the
//! characters), and falls back to a subset of Noto Sans CJK SC bundled in `assets/fonts/` (SIL
//! Open Font License), so a fresh machine shows glyphs, not boxes. Either is added behind egui's
//! own fonts, for proportional and monospace text alike.

use std::sync::Arc;

/// The bundled fallback: GB2312's 3,755 common characters, every character of the Chinese
/// lessons, CJK punctuation and full-width forms.
pub const BUNDLED_CJK: &[u8] = include_bytes!("../../assets/fonts/NotoSansSC-subset.otf");

/// Characters a face must have to be taken for Chinese text.
const PROBE: [char; 4] = ['中', '文', '进', '程'];

/// Where the Chinese glyphs came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CjkSource {
    /// A system font: its family name.
    System(String),
    Bundled,
}

/// Whether face `index` of `data` has a glyph for every character of `text` (that is not ASCII).
pub fn covers(data: &[u8], index: u32, text: &str) -> bool {
    match ttf_parser::Face::parse(data, index) {
        Ok(face) => text.chars().filter(|c| !c.is_ascii()).all(|c| face.glyph_index(c).is_some()),
        Err(_) => false,
    }
}

/// A system font face that covers Chinese: its bytes, face index and family. Sans faces of a
/// regular weight first (they read best on a stage); `None` when the system has none.
fn system_cjk() -> Option<(Vec<u8>, u32, String)> {
    let mut db = fontdb::Database::new();
    db.load_system_fonts();
    let mut best: Option<(i32, fontdb::ID, String)> = None;
    for face in db.faces() {
        let family = face.families.first().map(|(f, _)| f.clone()).unwrap_or_default();
        let score = i32::from(face.weight == fontdb::Weight::NORMAL) * 4
            + i32::from(face.style == fontdb::Style::Normal) * 2
            + i32::from(!family.contains("Serif") && !family.contains("Mono")) * 2
            + i32::from(family.contains(" SC") || family.contains("Hei") || family.contains("SC"));
        if best.as_ref().is_some_and(|(s, _, _)| *s >= score) {
            continue;
        }
        let ok = db.with_face_data(face.id, |data, index| covers(data, index, &PROBE.iter().collect::<String>()));
        if ok == Some(true) {
            best = Some((score, face.id, family));
        }
    }
    let (_, id, family) = best?;
    db.with_face_data(id, |data, index| (data.to_vec(), index, family.clone()))
}

/// Adds a font with Chinese glyphs behind egui's own; `bundled_only` skips the system search
/// (tests, for a picture that is the same on every machine). Says which it used.
pub fn install_cjk(ctx: &egui::Context, bundled_only: bool) -> CjkSource {
    let (data, source) = match (!bundled_only).then(system_cjk).flatten() {
        Some((bytes, index, family)) => {
            let mut d = egui::FontData::from_owned(bytes);
            d.index = index;
            (d, CjkSource::System(family))
        }
        None => (egui::FontData::from_static(BUNDLED_CJK), CjkSource::Bundled),
    };
    let mut fonts = egui::FontDefinitions::default();
    // In monospace text a Chinese character takes exactly two columns, so a diagram with Chinese
    // labels keeps its boxes and arrows aligned: the face is scaled to twice the ASCII advance.
    let scale = fonts
        .font_data
        .get("Hack")
        .and_then(|mono| mono_scale((*mono.font).as_ref(), mono.index, (*data.font).as_ref(), data.index))
        .unwrap_or(1.0);
    let mono = data.clone().tweak(egui::FontTweak { scale, ..Default::default() });
    fonts.font_data.insert("cjk".into(), Arc::new(data));
    fonts.font_data.insert("cjk-mono".into(), Arc::new(mono));
    fonts.families.entry(egui::FontFamily::Proportional).or_default().push("cjk".into());
    fonts.families.entry(egui::FontFamily::Monospace).or_default().push("cjk-mono".into());
    ctx.set_fonts(fonts);
    source
}

/// The scale that makes a Chinese character of face `cjk` as wide as two characters of the
/// monospace face `mono` (advances in em, from the fonts' own metrics).
fn mono_scale(mono: &[u8], mono_index: u32, cjk: &[u8], cjk_index: u32) -> Option<f32> {
    let advance = |data: &[u8], index: u32, c: char| -> Option<f32> {
        let face = ttf_parser::Face::parse(data, index).ok()?;
        let glyph = face.glyph_index(c)?;
        Some(f32::from(face.glyph_hor_advance(glyph)?) / f32::from(face.units_per_em()))
    };
    let (column, wide) = (advance(mono, mono_index, 'M')?, advance(cjk, cjk_index, '中')?);
    (wide > 0.0).then(|| 2.0 * column / wide)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lessons::{Lang, Lessons};

    #[test]
    fn a_chinese_character_takes_two_monospace_columns() {
        let ctx = egui::Context::default();
        install_cjk(&ctx, true);
        let _ = ctx.run_ui(egui::RawInput::default(), |_| {});
        let mono = egui::FontId::monospace(14.0);
        let width =
            |text: &str| ctx.fonts_mut(|f| f.layout_no_wrap(text.into(), mono.clone(), egui::Color32::WHITE).size().x);
        let (han, ascii) = (width("中文进程"), width("MMMMMMMM"));
        assert!((han - ascii).abs() < 0.5, "four Chinese characters are {han} wide, eight columns {ascii}");
    }

    #[test]
    fn the_bundled_font_has_every_character_of_the_chinese_lessons_and_ui() {
        let lessons = Lessons::builtin().expect("the lessons load");
        let mut text = String::new();
        for l in lessons.in_lang(Lang::ZhCn) {
            text.push_str(&l.title);
            text.push_str(&l.body_markdown);
            for q in &l.questions {
                text.push_str(&q.text);
                for a in &q.answers {
                    text.push_str(&a.text);
                    text.push_str(&a.why);
                }
            }
            for c in &l.challenges {
                text.push_str(&c.text);
            }
        }
        // Every word of the Chinese UI too (the whole catalog file: keys and comments are ASCII).
        text.push_str(include_str!("../../locales/zh-CN.yml"));
        let face = ttf_parser::Face::parse(BUNDLED_CJK, 0).expect("the bundled font parses");
        // Marks like · µ ✓ come from egui's own fonts, which stand before this one.
        let egui_fonts = egui::FontDefinitions::default();
        let in_egui = |c: char| {
            egui_fonts
                .font_data
                .values()
                .any(|d| ttf_parser::Face::parse((*d.font).as_ref(), d.index).is_ok_and(|f| f.glyph_index(c).is_some()))
        };
        let missing: String =
            text.chars().filter(|c| !c.is_ascii() && face.glyph_index(*c).is_none() && !in_egui(*c)).collect();
        // Box-drawing and arrows in diagrams come from egui's own fonts; anything else is a hole.
        let missing: String = missing
            .chars()
            .filter(|c| !('\u{2190}'..='\u{25FF}').contains(c))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        assert!(missing.is_empty(), "not in assets/fonts/NotoSansSC-subset.otf: {missing:?}");
        assert!(covers(BUNDLED_CJK, 0, "进程间通信"));
        assert!(!covers(BUNDLED_CJK, 0, "\u{4DB5}"), "a rare character outside the subset is not claimed");
    }
}
