//! Descriptions of labels, for `/whatis`'s `info`: a local file the server's operator provides
//! (`imgproc serve --info FILE`), so answering never reaches an outside site. Either a JSON
//! object (`{"n01443537": "The goldfish is a freshwater fish…", "tabby cat": "…"}`) or lines of
//! `KEY<TAB>TEXT`; a key is a label's synset id or any of its synonyms, matched case aside.

use super::labels::Label;
use anyhow::{ensure, Context, Result};
use std::collections::HashMap;
use std::path::Path;

/// Descriptions by key (lower case).
#[derive(Clone, Debug, Default)]
pub struct LabelInfo {
    by_key: HashMap<String, String>,
}

impl LabelInfo {
    /// Parses the file's text; `name` names it in errors.
    pub fn parse(text: &str, name: &str) -> Result<LabelInfo> {
        let mut by_key = HashMap::new();
        if text.trim_start().starts_with('{') {
            let map: HashMap<String, String> =
                serde_json::from_str(text).with_context(|| format!("{name}: not a JSON object of strings"))?;
            by_key.extend(map.into_iter().map(|(k, v)| (norm(&k), v)));
        } else {
            for (i, line) in text.lines().enumerate() {
                let line = line.trim_end_matches('\r');
                if line.trim().is_empty() || line.starts_with('#') {
                    continue;
                }
                let (key, value) = line
                    .split_once('\t')
                    .with_context(|| format!("{name}: line {} has no tab between the label and its text", i + 1))?;
                ensure!(!key.trim().is_empty(), "{name}: line {} names no label", i + 1);
                by_key.insert(norm(key), value.trim().to_string());
            }
        }
        Ok(LabelInfo { by_key })
    }

    /// Reads and parses the file.
    pub fn read(path: &Path) -> Result<LabelInfo> {
        let text = std::fs::read_to_string(path).with_context(|| format!("{}: cannot read", path.display()))?;
        LabelInfo::parse(&text, &path.display().to_string())
    }

    /// How many labels have a description.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// The description of `label`: by its id first, then by each synonym in order.
    pub fn of(&self, label: &Label) -> Option<&str> {
        let keys = label.id.iter().chain(label.names.iter());
        keys.filter_map(|k| self.by_key.get(&norm(k))).map(String::as_str).next()
    }
}

fn norm(key: &str) -> String {
    key.trim().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(id: Option<&str>, names: &[&str]) -> Label {
        Label { id: id.map(str::to_string), names: names.iter().map(|s| s.to_string()).collect() }
    }

    #[test]
    fn json_descriptions_are_found_by_id_before_any_synonym() {
        let info = LabelInfo::parse(r#"{"N01443537": "by id", "goldfish": "by name"}"#, "info.json").unwrap();
        assert_eq!(info.of(&label(Some("n01443537"), &["goldfish"])), Some("by id"));
        assert_eq!(info.of(&label(None, &["Goldfish"])), Some("by name"));
        assert_eq!(info.of(&label(None, &["carp"])), None);
    }

    #[test]
    fn tab_lines_match_a_later_synonym_and_skip_comments() {
        let info = LabelInfo::parse("# descriptions\ncarassius auratus\tA fish.\n\n", "info.tsv").unwrap();
        assert_eq!(info.len(), 1);
        assert_eq!(info.of(&label(Some("n01443537"), &["goldfish", "Carassius auratus"])), Some("A fish."));
    }

    #[test]
    fn a_line_without_a_tab_is_refused_with_its_number() {
        let e = LabelInfo::parse("goldfish\tA fish.\ntabby cat a cat\n", "info.tsv").unwrap_err();
        assert!(format!("{e:#}").contains("info.tsv: line 2"), "{e:#}");
        let e = LabelInfo::parse("{\"a\": 3}", "info.json").unwrap_err();
        assert!(format!("{e:#}").contains("info.json"), "{e:#}");
    }
}
