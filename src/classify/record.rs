//! One image's result, as the rank that classified it reports it and as the results file holds
//! it: a JSON object a line (`.jsonl`) or a CSV row (`.csv`).
//!
//! ```json
//! {"file":"/data/valid/n01443537/val_1.JPEG","top":[{"label":"goldfish","id":"n01443537","index":1,"score":0.93}, ...],"secs":0.012,"rank":2}
//! {"file":"/data/broken.jpg","top":[],"error":"/data/broken.jpg: truncated JPEG (no end-of-image marker)","secs":0.0,"rank":1}
//! ```

use super::labels::Label;
use super::net::top_k;
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One of an image's best labels.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Guess {
    /// The label's name (its first synonym).
    pub label: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Its place in the model's output.
    pub index: usize,
    pub score: f32,
}

/// One image's line in the results.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub file: PathBuf,
    /// Best first; empty when the image failed.
    pub top: Vec<Guess>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Seconds this image took on its rank (its share of a batched forward pass included).
    pub secs: f64,
    pub rank: usize,
}

impl Record {
    /// The record of an image's scores.
    pub fn of_scores(file: &Path, scores: &[f32], labels: &[Label], k: usize, secs: f64, rank: usize) -> Record {
        let top = top_k(scores, k)
            .into_iter()
            .map(|(index, score)| Guess {
                label: labels[index].name().to_string(),
                id: labels[index].id.clone(),
                index,
                score,
            })
            .collect();
        Record { file: file.to_path_buf(), top, error: None, secs, rank }
    }

    /// The record of an image that failed.
    pub fn failed(file: &Path, reason: &str, secs: f64, rank: usize) -> Record {
        Record { file: file.to_path_buf(), top: Vec::new(), error: Some(reason.to_string()), secs, rank }
    }
}

/// How the results file is written, from its extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResultsFormat {
    Jsonl,
    Csv,
}

impl ResultsFormat {
    pub fn of(path: &Path) -> Result<ResultsFormat> {
        match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
            Some("jsonl" | "json" | "ndjson") => Ok(ResultsFormat::Jsonl),
            Some("csv") => Ok(ResultsFormat::Csv),
            _ => bail!("{}: results go to a .jsonl or a .csv file", path.display()),
        }
    }

    /// The first line of a new file (CSV's header).
    pub fn header(self, k: usize) -> Option<String> {
        (self == ResultsFormat::Csv).then(|| {
            let mut h = String::from("file,rank,secs,error");
            (1..=k).for_each(|i| h.push_str(&format!(",label{i},score{i}")));
            h
        })
    }

    /// One record as a line (without the newline).
    pub fn line(self, r: &Record) -> String {
        match self {
            ResultsFormat::Jsonl => serde_json::to_string(r).expect("records serialise"),
            ResultsFormat::Csv => {
                let mut f = vec![csv_field(&r.file.to_string_lossy()), r.rank.to_string(), format!("{:.6}", r.secs)];
                f.push(csv_field(r.error.as_deref().unwrap_or("")));
                for g in &r.top {
                    f.push(csv_field(&g.label));
                    f.push(g.score.to_string());
                }
                f.join(",")
            }
        }
    }

    /// The file a line is about and whether it is a success; `None` for a line that is not a
    /// record (a header, or one torn by a crash).
    pub fn file_of(self, line: &str) -> Option<(PathBuf, bool)> {
        match self {
            ResultsFormat::Jsonl => serde_json::from_str::<Record>(line).ok().map(|r| (r.file, r.error.is_none())),
            ResultsFormat::Csv => {
                let fields = csv_fields(line)?;
                // file, rank, secs, error, then label/score pairs: a whole row has an even count.
                let whole = fields.len() >= 4 && fields.len() % 2 == 0 && fields[1].parse::<usize>().is_ok();
                whole.then(|| (PathBuf::from(&fields[0]), fields[3].is_empty()))
            }
        }
    }
}

impl ResultsFormat {
    /// A line back as a record; `None` for a header or a torn line.
    pub fn parse(self, line: &str, labels: &[Label]) -> Option<Record> {
        if self == ResultsFormat::Jsonl {
            return serde_json::from_str(line).ok();
        }
        let f = csv_fields(line)?;
        (f.len() >= 4 && f.len() % 2 == 0).then_some(())?;
        let top = f[4..]
            .chunks(2)
            .map(|p| {
                let index = labels.iter().position(|l| l.name() == p[0])?;
                Some(Guess { label: p[0].clone(), id: labels[index].id.clone(), index, score: p[1].parse().ok()? })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Record {
            file: PathBuf::from(&f[0]),
            top,
            error: (!f[3].is_empty()).then(|| f[3].clone()),
            secs: f[2].parse().ok()?,
            rank: f[1].parse().ok()?,
        })
    }
}

/// A CSV field, quoted when it must be.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// A CSV line's fields; `None` when a quote is left open (a torn line).
fn csv_fields(line: &str) -> Option<Vec<String>> {
    let (mut fields, mut cur, mut quoted, mut chars) = (Vec::new(), String::new(), false, line.chars().peekable());
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(std::mem::take(&mut cur)),
            (c, _) => cur.push(c),
        }
    }
    fields.push(cur);
    (!quoted).then_some(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> Vec<Label> {
        super::super::labels::parse("n01443537 goldfish, Carassius auratus\ncat, kitty\n", "l").unwrap()
    }

    #[test]
    fn a_record_names_its_best_labels_by_first_synonym() {
        let r = Record::of_scores(Path::new("/a.png"), &[0.25, 0.75], &labels(), 2, 0.5, 1);
        assert_eq!((r.top[0].label.as_str(), r.top[0].index, r.top[1].id.as_deref()), ("cat", 1, Some("n01443537")));
    }

    #[test]
    fn jsonl_and_csv_lines_give_their_file_back_and_torn_ones_do_not() {
        let ok = Record::of_scores(Path::new("/x/a, \"b\".png"), &[0.25, 0.75], &labels(), 2, 0.5, 1);
        let bad = Record::failed(Path::new("/x/c.png"), "c.png: truncated", 0.0, 2);
        for f in [ResultsFormat::Jsonl, ResultsFormat::Csv] {
            assert_eq!(f.file_of(&f.line(&ok)), Some((ok.file.clone(), true)), "{f:?}");
            assert_eq!(f.file_of(&f.line(&bad)), Some((bad.file.clone(), false)), "{f:?}");
            let back = f.parse(&f.line(&ok), &labels()).unwrap();
            assert_eq!((back.file, back.top[0].index, back.top[1].score), (ok.file.clone(), 1, 0.25), "{f:?}");
            let line = f.line(&ok);
            assert_eq!(f.file_of(&line[..line.len() / 3]), None, "{f:?}: {line}");
        }
        assert_eq!(ResultsFormat::Csv.file_of(&ResultsFormat::Csv.header(2).unwrap()), None);
    }

    #[test]
    fn the_format_comes_from_the_extension() {
        assert_eq!(ResultsFormat::of(Path::new("r.CSV")).unwrap(), ResultsFormat::Csv);
        assert!(ResultsFormat::of(Path::new("r.txt")).is_err());
    }
}
