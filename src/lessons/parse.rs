//! One lesson file into a [`Lesson`]: the front matter by lines, the rest with pulldown-cmark
//! (the parser egui_commonmark renders with), so a `question` block or an `experiment:` link
//! counts exactly when it would on the page: not inside another code block, not in inline code.
//! The question and challenge blocks are then read line by line, each error at its line.

use std::ops::Range;

use pulldown_cmark::{CodeBlockKind, Event, Parser, Tag};

use super::{Answer, Challenge, Goal, Lang, Lesson, LessonError, Question, measure};

/// Parses `text`, the file `name` (`02-pipes.md`) of language `lang`; `shown` names the file in
/// messages.
pub(super) fn lesson(shown: &str, name: &str, lang: Lang, text: &str) -> Result<Lesson, LessonError> {
    let err = |line: usize, what: String| LessonError::at(shown, line, what);
    let stem = name.strip_suffix(".md").unwrap_or(name);
    let (number, file_id) = stem.split_once('-').unwrap_or(("", stem));
    let order = match number.parse::<u32>() {
        Ok(n) if number.len() == 2 => n,
        _ => {
            return Err(LessonError::file(shown, "a lesson file is named NN-id.md (two digits, a dash, the id)"));
        }
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // A UI word a lesson names is the catalog's, in the lesson's language, so the page and the
    // menu cannot drift apart; lines stay where they were (no catalog text holds a newline).
    let text = &ui_words(text, lang).map_err(|(line, what)| err(line, what))?;
    let (front, body_start) = front_matter(shown, text)?;
    let mut id = None;
    let mut title = None;
    for (line, key, value) in front {
        let slot = match key.as_str() {
            "id" => &mut id,
            "title" => &mut title,
            _ => return Err(err(line, format!("unknown front matter key '{key}' (known: id, title)"))),
        };
        if slot.is_some() {
            return Err(err(line, format!("'{key}' is given twice")));
        }
        if value.is_empty() {
            return Err(err(line, format!("'{key}' is empty")));
        }
        *slot = Some((line, value));
    }
    let (id_line, id) = id.ok_or_else(|| err(1, "the front matter has no 'id'".into()))?;
    let (_, title) = title.ok_or_else(|| err(1, "the front matter has no 'title'".into()))?;
    if id != file_id {
        return Err(err(id_line, format!("id '{id}' does not match the file name (expected '{file_id}')")));
    }
    let line_of = LineIndex::new(text);

    let body = &text[body_start..];
    let mut questions = Vec::new();
    let mut challenges = Vec::new();
    let mut experiments = Vec::new();
    let mut experiment_lines = Vec::new();
    let mut cut: Vec<Range<usize>> = Vec::new();
    for (event, range) in Parser::new(body).into_offset_iter() {
        let range = range.start + body_start..range.end + body_start;
        match event {
            Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(info))) => {
                let info = info.trim();
                let kind = info.split_whitespace().next().unwrap_or("");
                let line = line_of.line(range.start);
                match kind {
                    "question" | "challenge" => {
                        let lines = block_lines(shown, text, &range, line, kind)?;
                        if kind == "question" {
                            questions.push(question(shown, line, &lines)?);
                        } else {
                            challenges.push(challenge(shown, line, &lines)?);
                        }
                        cut.push(range);
                    }
                    k if k.starts_with("question") || k.starts_with("challenge") => {
                        return Err(err(line, format!("unknown block '{k}' (question or challenge?)")));
                    }
                    _ => {}
                }
            }
            Event::Start(Tag::Link { dest_url, .. }) => {
                if let Some(experiment) = dest_url.strip_prefix("experiment:") {
                    let line = line_of.line(range.start);
                    if !valid_id(experiment) {
                        return Err(err(
                            line,
                            format!("'{experiment}' is not an experiment id (lowercase letters, digits and dashes)"),
                        ));
                    }
                    // The page draws an experiment as a button only on a line of its own; inside
                    // a sentence it would be a link that does nothing.
                    let from = text[..range.start].rfind('\n').map_or(0, |i| i + 1);
                    let to = text[range.end..].find('\n').map_or(text.len(), |i| range.end + i);
                    let own_line = text[from..to].trim();
                    if !(own_line.starts_with('[') && own_line.ends_with(')') && own_line.matches("](").count() == 1) {
                        return Err(err(
                            line,
                            format!("the experiment link '{experiment}' must be alone on its line to be a button"),
                        ));
                    }
                    experiments.push(experiment.to_string());
                    experiment_lines.push(line);
                }
            }
            _ => {}
        }
    }
    for (line, name) in measures(text, body_start, &line_of).map_err(|(line, what)| err(line, what))? {
        if !measure::NAMES.contains(&name.as_str()) {
            return Err(err(line, format!("unknown measure '{name}' (known: {})", measure::NAMES.join(", "))));
        }
    }

    let mut body_markdown = String::new();
    let mut at = body_start;
    for r in &cut {
        body_markdown.push_str(&text[at..r.start]);
        at = r.end;
    }
    body_markdown.push_str(&text[at..]);
    Ok(Lesson {
        id,
        order,
        title,
        lang,
        body_markdown: tidy(&body_markdown),
        questions,
        challenges,
        experiments,
        experiment_lines,
        file: shown.to_string(),
    })
}

/// The `key: value` lines between the opening `---` and the closing `---` (with their line
/// numbers), and where the body starts.
#[allow(clippy::type_complexity)]
fn front_matter(shown: &str, text: &str) -> Result<(Vec<(usize, String, String)>, usize), LessonError> {
    let mut lines = text.split_inclusive('\n');
    let first = lines.next().unwrap_or("");
    if first.trim_end() != "---" {
        return Err(LessonError::at(shown, 1, "a lesson starts with front matter: a line '---', then id and title"));
    }
    let mut offset = first.len();
    let mut pairs = Vec::new();
    for (i, raw) in lines.enumerate() {
        let line = i + 2;
        offset += raw.len();
        let l = raw.trim_end();
        if l == "---" {
            return Ok((pairs, offset));
        }
        if l.trim().is_empty() {
            continue;
        }
        let Some((key, value)) = l.split_once(':') else {
            return Err(LessonError::at(shown, line, format!("front matter line '{l}' is not 'key: value'")));
        };
        pairs.push((line, key.trim().to_string(), value.trim().to_string()));
    }
    Err(LessonError::at(shown, 1, "the front matter is never closed (a line '---')"))
}

/// The lines inside a fenced block (without the fences, the fence's indentation removed), each
/// with its line number; an error if the block is never closed.
fn block_lines<'t>(
    shown: &str,
    text: &'t str,
    range: &Range<usize>,
    line: usize,
    kind: &str,
) -> Result<Vec<(usize, &'t str)>, LessonError> {
    let raw: Vec<&str> = text[range.clone()].lines().collect();
    let opening = raw.first().copied().unwrap_or("");
    let indent = opening.len() - opening.trim_start().len();
    let fence: String = opening.trim_start().chars().take_while(|&c| c == '`' || c == '~').collect();
    let closed = raw.len() >= 2 && raw.last().is_some_and(|l| l.trim().starts_with(&fence));
    if !closed {
        return Err(LessonError::at(shown, line, format!("{kind} block is never closed (a line '{fence}')")));
    }
    Ok(raw[1..raw.len() - 1]
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let cut = l.len() - l.trim_start().len();
            (line + 1 + i, &l[cut.min(indent)..])
        })
        .collect())
}

/// A `question` block: text, then answers `- [ ] ` / `- [x] `, each followed by `  > ` lines.
fn question(shown: &str, line: usize, lines: &[(usize, &str)]) -> Result<Question, LessonError> {
    let err = |line: usize, what: String| LessonError::at(shown, line, what);
    let mut text_lines: Vec<&str> = Vec::new();
    // (line, right, text, why lines)
    let mut answers: Vec<(usize, bool, String, Vec<&str>)> = Vec::new();
    for &(n, l) in lines {
        let answer = l
            .strip_prefix("- [ ] ")
            .map(|t| (false, t))
            .or_else(|| l.strip_prefix("- [x] ").or_else(|| l.strip_prefix("- [X] ")).map(|t| (true, t)));
        if let Some((right, t)) = answer {
            if t.trim().is_empty() {
                return Err(err(n, "answer has no text".into()));
            }
            if right && let Some(first) = answers.iter().find(|a| a.1) {
                return Err(err(n, format!("question has two right answers (the other at line {})", first.0)));
            }
            answers.push((n, right, t.trim().to_string(), Vec::new()));
            continue;
        }
        match answers.last_mut() {
            None => text_lines.push(l),
            Some(a) => {
                if let Some(why) = l.trim_start().strip_prefix('>').filter(|_| l.starts_with("  ")) {
                    a.3.push(why.trim());
                } else if l.trim().is_empty() {
                    continue;
                } else if l.starts_with("- [") {
                    return Err(err(n, "an answer starts '- [ ] ' (wrong) or '- [x] ' (right)".into()));
                } else {
                    return Err(err(n, "after an answer, only its explanation: lines starting '  > '".into()));
                }
            }
        }
    }
    let text = join_paragraphs(&text_lines);
    if text.is_empty() {
        return Err(err(line, "question has no text before its answers".into()));
    }
    if answers.len() < 2 {
        return Err(err(line, format!("question has {} answers; it needs at least two", answers.len())));
    }
    if !answers.iter().any(|a| a.1) {
        return Err(err(line, "question has no right answer (mark it '- [x] ')".into()));
    }
    let mut out = Vec::new();
    for (n, right, text, why) in answers {
        let why = join_paragraphs(&why);
        if why.is_empty() {
            return Err(err(n, "answer has no explanation (lines starting '  > ' after it)".into()));
        }
        out.push(Answer { text, right, why });
    }
    Ok(Question { text, answers: out, line })
}

/// A `challenge` block: `experiment:`, `goal:` and `text:` lines, each once.
fn challenge(shown: &str, line: usize, lines: &[(usize, &str)]) -> Result<Challenge, LessonError> {
    let err = |line: usize, what: String| LessonError::at(shown, line, what);
    let (mut experiment, mut goal, mut text) = (None, None, None);
    for &(n, l) in lines {
        if l.trim().is_empty() {
            continue;
        }
        let Some((key, value)) = l.split_once(':') else {
            return Err(err(n, format!("challenge line '{}' is not 'key: value'", l.trim())));
        };
        let value = value.trim();
        let slot = match key.trim() {
            "experiment" => &mut experiment,
            "goal" => &mut goal,
            "text" => &mut text,
            k => return Err(err(n, format!("unknown challenge key '{k}' (known: experiment, goal, text)"))),
        };
        if slot.is_some() {
            return Err(err(n, format!("'{}' is given twice", key.trim())));
        }
        if value.is_empty() {
            return Err(err(n, format!("'{}' is empty", key.trim())));
        }
        *slot = Some((n, value.to_string()));
    }
    let missing = |what: &str| err(line, format!("challenge has no '{what}'"));
    let (_, experiment) = experiment.ok_or_else(|| missing("experiment"))?;
    let (goal_line, goal) = goal.ok_or_else(|| missing("goal"))?;
    let (_, text) = text.ok_or_else(|| missing("text"))?;
    if !valid_id(&experiment) {
        return Err(err(line, format!("'{experiment}' is not an experiment id")));
    }
    let goal = goal.parse::<Goal>().map_err(|e| err(goal_line, e))?;
    Ok(Challenge { experiment, goal, text, line })
}

/// Experiment ids: lowercase ASCII letters, digits and dashes.
pub(super) fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Every `{{measure:NAME}}` in the body, with its line; an error for a `{{measure:` never closed.
fn measures(text: &str, from: usize, line_of: &LineIndex) -> Result<Vec<(usize, String)>, (usize, String)> {
    let mut found = Vec::new();
    let mut at = from;
    while let Some(i) = text[at..].find(measure::OPEN) {
        let start = at + i;
        let rest = &text[start + measure::OPEN.len()..];
        let Some(end) = rest.find("}}").filter(|&e| !rest[..e].contains('\n')) else {
            return Err((line_of.line(start), "'{{measure:' is never closed with '}}' on its line".into()));
        };
        found.push((line_of.line(start), rest[..end].trim().to_string()));
        at = start + measure::OPEN.len() + end + 2;
    }
    Ok(found)
}

/// How a UI word starts in the text (`{{ui:controls.stop}}`); it ends with `}}`.
pub const UI_OPEN: &str = "{{ui:";

/// The text with every `{{ui:KEY}}` replaced by the catalog's text for KEY in `lang`; an error,
/// at its line, for a key the catalog lacks, a text with a placeholder, or a `{{ui:` never closed.
fn ui_words(text: &str, lang: Lang) -> Result<String, (usize, String)> {
    let line_of = LineIndex::new(text);
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    while let Some(i) = text[at..].find(UI_OPEN) {
        let start = at + i;
        out.push_str(&text[at..start]);
        let rest = &text[start + UI_OPEN.len()..];
        let line = line_of.line(start);
        let Some(end) = rest.find("}}").filter(|&e| !rest[..e].contains('\n')) else {
            return Err((line, "'{{ui:' is never closed with '}}' on its line".into()));
        };
        let key = rest[..end].trim();
        let word = crate::i18n::lookup(key, lang)
            .ok_or_else(|| (line, format!("'{key}' is not a key of the UI's catalog (locales/{lang}.yml)")))?;
        if word.contains("%{") || word.contains('\n') {
            return Err((line, format!("'{key}' is a sentence with blanks or lines, not a UI word: name another key")));
        }
        out.push_str(&word);
        at = start + UI_OPEN.len() + end + 2;
    }
    out.push_str(&text[at..]);
    Ok(out)
}

/// Lines joined into paragraphs: a blank line separates paragraphs; within one, the file's line
/// wrapping is undone (a space between words, nothing between two CJK characters).
pub(super) fn join_paragraphs(lines: &[&str]) -> String {
    let mut out = String::new();
    let mut blank = false;
    for l in lines.iter().map(|l| l.trim()) {
        if l.is_empty() {
            blank = !out.is_empty();
            continue;
        }
        if blank {
            out.push_str("\n\n");
            blank = false;
        } else if let (Some(a), Some(b)) = (out.chars().last(), l.chars().next())
            && !(is_wide(a) && is_wide(b))
        {
            out.push(' ');
        }
        out.push_str(l);
    }
    out
}

/// Characters written without spaces between them (CJK ideographs, kana, full-width forms and
/// CJK punctuation).
fn is_wide(c: char) -> bool {
    matches!(c as u32, 0x2E80..=0x9FFF | 0xF900..=0xFAFF | 0xFE30..=0xFE4F | 0xFF00..=0xFFEF | 0x20000..=0x2FFFF)
}

/// The page without the cut-out blocks: no runs of more than one blank line, one final newline.
fn tidy(markdown: &str) -> String {
    let mut out = String::new();
    let mut blanks = 0;
    for l in markdown.trim().lines() {
        if l.trim().is_empty() {
            blanks += 1;
            if blanks > 1 {
                continue;
            }
        } else {
            blanks = 0;
        }
        out.push_str(l.trim_end());
        out.push('\n');
    }
    out
}

/// Byte offset → line number (1-based).
struct LineIndex(Vec<usize>);

impl LineIndex {
    fn new(text: &str) -> LineIndex {
        LineIndex(std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect())
    }

    fn line(&self, offset: usize) -> usize {
        self.0.partition_point(|&start| start <= offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "---\nid: pipes\ntitle: Anonymous pipes\n---\n\n# Pipes\n\n\
        A pipe holds {{measure:pipe_capacity}}.\n\n\
        [Run it](experiment:pipe-full)\n\n\
        `[not a link](experiment:in-code)`\n\n\
        ```question\nWhen does the reader\nsee end of file?\n\
        - [ ] Soon.\n  > No: not yet.\n\
        - [x] When every write end is closed.\n  > Yes: the kernel\n  > counts them.\n```\n\n\
        ```text\n[also not a link](experiment:in-block)\n```\n\n\
        ```challenge\nexperiment: lock-order-scheduler\ngoal: deadlock\ntext: Make them wait.\n```\n";

    fn parse(text: &str) -> Result<Lesson, String> {
        lesson("en/02-pipes.md", "02-pipes.md", Lang::En, text).map_err(|e| e.to_string())
    }

    #[test]
    fn a_lesson_is_read_into_its_parts() {
        let l = parse(GOOD).unwrap();
        assert_eq!((l.id.as_str(), l.order, l.title.as_str()), ("pipes", 2, "Anonymous pipes"));
        assert_eq!(l.experiments, vec!["pipe-full"], "links in code are not links");
        assert_eq!(l.experiment_lines, vec![10]);
        assert_eq!(l.questions.len(), 1);
        let q = &l.questions[0];
        assert_eq!(q.text, "When does the reader see end of file?");
        assert_eq!(q.line, 14);
        assert_eq!(q.right_answer(), Some(1));
        assert_eq!(q.answers[1].why, "Yes: the kernel counts them.");
        assert_eq!(
            l.challenges,
            vec![Challenge {
                experiment: "lock-order-scheduler".into(),
                goal: Goal::Deadlock,
                text: "Make them wait.".into(),
                line: 28
            }]
        );
        assert!(!l.body_markdown.contains("```question") && !l.body_markdown.contains("```challenge"));
        assert!(!l.body_markdown.contains("id: pipes"), "front matter is not on the page");
        assert!(l.body_markdown.starts_with("# Pipes\n") && l.body_markdown.contains("{{measure:pipe_capacity}}"));
        assert!(l.body_markdown.contains("```text"), "other code blocks stay");
        assert!(!l.body_markdown.contains("\n\n\n"));
    }

    #[test]
    fn ui_words_come_from_the_catalog_in_the_lessons_language() {
        let text = GOOD.replace("# Pipes\n", "# Pipes\n\nPress {{ui:programs.stop}} now.\n");
        let l = parse(&text).unwrap();
        assert!(l.body_markdown.contains("Press Stop now."), "{}", l.body_markdown);
        assert_eq!(l.experiment_lines, vec![12], "lines stay where they were");
        let zh = lesson("zh-CN/02-pipes.md", "02-pipes.md", Lang::ZhCn, &text).unwrap();
        let stop = crate::i18n::lookup("programs.stop", Lang::ZhCn).unwrap();
        assert!(zh.body_markdown.contains(&format!("Press {stop} now.")) && stop != "Stop");
        let bad = GOOD.replace("# Pipes\n", "# Pipes\n\nPress {{ui:programs.stopp}}.\n");
        assert!(parse(&bad).unwrap_err().contains(":8: 'programs.stopp' is not a key"), "{:?}", parse(&bad));
        let blanks = GOOD.replace("# Pipes\n", "# Pipes\n\nSee {{ui:programs.loaded}}.\n");
        assert!(parse(&blanks).unwrap_err().contains("blanks"));
        let open = GOOD.replace("# Pipes\n", "# Pipes\n\nSee {{ui:programs.stop\n");
        assert!(parse(&open).unwrap_err().contains("never closed"));
    }

    #[test]
    fn each_mistake_is_named_at_its_line() {
        let cases = [
            (GOOD.replace("- [ ] Soon.", "- [x] Soon."), ":19: question has two right answers (the other at line 17)"),
            (GOOD.replace("- [x] When", "- [ ] When"), ":14: question has no right answer"),
            (GOOD.replace("  > No: not yet.\n", ""), ":17: answer has no explanation"),
            (GOOD.replace("  > No: not yet.\n", "  No: not yet.\n"), ":18: after an answer, only its explanation"),
            (GOOD.replace("When does the reader\nsee end of file?\n", ""), ":14: question has no text"),
            (GOOD.replace("goal: deadlock", "goal: stalemate"), ":30: unknown goal 'stalemate'"),
            (GOOD.replace("text: Make them wait.\n", ""), ":28: challenge has no 'text'"),
            (GOOD.replace("goal: deadlock", "gaol: deadlock"), ":30: unknown challenge key 'gaol'"),
            (GOOD.replace("pipe_capacity", "pipe_capacty"), ":8: unknown measure 'pipe_capacty'"),
            (GOOD.replace("{{measure:pipe_capacity}}", "{{measure:pipe_capacity"), ":8: '{{measure:' is never closed"),
            (GOOD.replace("id: pipes", "id: pipe"), ":2: id 'pipe' does not match the file name"),
            (GOOD.replace("title: Anonymous pipes\n", ""), ":1: the front matter has no 'title'"),
            (GOOD.replace("title:", "titel:"), ":3: unknown front matter key 'titel'"),
            (GOOD.replacen("---\n", "", 1), ":1: a lesson starts with front matter"),
            (
                GOOD.replace("(experiment:pipe-full)", "(experiment:Pipe_Full)"),
                ":10: 'Pipe_Full' is not an experiment id",
            ),
            (GOOD.replace("```question", "```questions"), ":14: unknown block 'questions'"),
            (
                GOOD.replace("[Run it](experiment:pipe-full)", "Compare [it](experiment:pipe-full) with that."),
                ":10: the experiment link 'pipe-full' must be alone on its line",
            ),
        ];
        for (text, want) in cases {
            let e = parse(&text).unwrap_err();
            assert!(e.starts_with("en/02-pipes.md:") && e.contains(want), "want {want:?}, got {e:?}");
        }
        let unclosed = GOOD.rsplit_once("```\n").map(|(a, _)| a.to_string()).unwrap();
        assert!(parse(&unclosed).unwrap_err().contains(":28: challenge block is never closed"));
        let e = lesson("x", "2-pipes.md", Lang::En, GOOD).unwrap_err().to_string();
        assert!(e.contains("NN-id.md"), "{e}");
    }

    #[test]
    fn wrapped_lines_are_joined_as_the_language_writes() {
        assert_eq!(join_paragraphs(&["one", "two", "", "three"]), "one two\n\nthree");
        assert_eq!(join_paragraphs(&["管道的", "读端"]), "管道的读端");
        assert_eq!(join_paragraphs(&["用 `read`", "读"]), "用 `read` 读");
    }
}
