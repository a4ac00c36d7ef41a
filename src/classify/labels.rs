//! The labels file: one class a line, in the order of the model's scores. A line is either a
//! plain name (`tabby cat`) or, in the synset layout of ImageNet and tiny-imagenet
//! (`synset_words.txt`, `words.txt`), an id followed by comma-separated synonyms
//! (`n01443537 goldfish, Carassius auratus`). The first synonym is the label's name.

use anyhow::{ensure, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// One class.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Label {
    /// The synset id (`n01443537`), when the line has one.
    pub id: Option<String>,
    /// The synonyms, first the name a person reads.
    pub names: Vec<String>,
}

impl Label {
    /// The first synonym: what `/whatis` calls the prediction.
    pub fn name(&self) -> &str {
        &self.names[0]
    }

    /// True when a class folder named `folder` holds images of this class: its id, or any of
    /// its synonyms (case and `_`/space aside).
    pub fn matches(&self, folder: &str) -> bool {
        let norm = |s: &str| s.trim().to_lowercase().replace('_', " ");
        let folder = norm(folder);
        self.id.as_deref().is_some_and(|id| norm(id) == folder) || self.names.iter().any(|n| norm(n) == folder)
    }
}

/// True for a WordNet synset id as ImageNet spells it: `n` and eight digits.
fn is_synset_id(s: &str) -> bool {
    s.len() == 9 && s.starts_with('n') && s[1..].bytes().all(|b| b.is_ascii_digit())
}

/// Parses a labels file's text: blank lines are an error (they would shift every later class).
pub fn parse(text: &str, name: &str) -> Result<Vec<Label>> {
    let text = text.strip_suffix('\n').unwrap_or(text);
    let mut labels = Vec::new();
    for (i, line) in text.split('\n').enumerate() {
        let line = line.trim_end_matches('\r').trim();
        ensure!(!line.is_empty(), "{name}: line {} is empty (every line names the class of one score)", i + 1);
        let (id, rest) = match line.split_once(|c: char| c.is_whitespace()) {
            Some((first, rest)) if is_synset_id(first) => (Some(first.to_string()), rest.trim()),
            _ if is_synset_id(line) => (Some(line.to_string()), line),
            _ => (None, line),
        };
        let names: Vec<String> = rest.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
        ensure!(!names.is_empty(), "{name}: line {} names no class", i + 1);
        labels.push(Label { id, names });
    }
    ensure!(!labels.is_empty(), "{name}: no labels");
    Ok(labels)
}

/// Reads and parses a labels file.
pub fn read(path: &Path) -> Result<Vec<Label>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("{}: cannot read the labels file", path.display()))?;
    parse(&text, &path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synset_lines_give_an_id_and_synonyms_and_plain_lines_a_name() {
        let l = parse("n01443537 goldfish, Carassius auratus\ntabby cat\n", "l").unwrap();
        assert_eq!(l[0].id.as_deref(), Some("n01443537"));
        assert_eq!(l[0].names, ["goldfish", "Carassius auratus"]);
        assert_eq!(l[0].name(), "goldfish");
        assert_eq!(l[1], Label { id: None, names: vec!["tabby cat".into()] });
        // tiny-imagenet's words.txt separates with a tab.
        assert_eq!(parse("n01443537\tgoldfish", "l").unwrap()[0].name(), "goldfish");
    }

    #[test]
    fn an_empty_line_is_refused_with_its_number() {
        let e = parse("a\n\nb\n", "labels.txt").unwrap_err().to_string();
        assert!(e.contains("labels.txt: line 2 is empty"), "{e}");
    }

    #[test]
    fn a_class_folder_matches_by_id_or_synonym() {
        let l = &parse("n01443537 goldfish, Carassius auratus", "l").unwrap()[0];
        assert!(l.matches("n01443537") && l.matches("Goldfish") && l.matches("carassius_auratus"));
        assert!(!l.matches("shark"));
    }
}
