//! Evaluation against class folders (`valid/n01443537/*.JPEG`, the layout of tiny-imagenet and
//! ImageNet): the folder an image sits in names its true class, matched to a label by id or
//! synonym. Reports top-1 and top-5 accuracy and what was confused with what.

use super::labels::Label;
use super::record::Record;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// The accuracy of a job's results over the images whose class is known.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Evaluation {
    /// Images with a known class and a result.
    pub images: usize,
    pub top1: f64,
    pub top5: f64,
    /// Per class: images, top-1 correct; worst first.
    pub classes: Vec<ClassScore>,
    /// The most frequent (true, predicted) mistakes, most first (at most ten).
    pub confusions: Vec<Confusion>,
    /// Class folders that match no label (their images are left out).
    pub unknown_folders: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClassScore {
    pub class: String,
    pub images: usize,
    pub top1: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Confusion {
    pub truth: String,
    pub predicted: String,
    pub count: usize,
}

/// Evaluates `records` given each image's class folder (`truth`: file → folder name).
pub fn evaluate(records: &[Record], truth: &HashMap<PathBuf, String>, labels: &[Label]) -> Evaluation {
    let mut label_of: HashMap<&str, Option<usize>> = HashMap::new();
    let mut ev = Evaluation::default();
    let (mut hit1, mut hit5) = (0usize, 0usize);
    let mut per: BTreeMap<usize, (usize, usize)> = BTreeMap::new();
    let mut confused: HashMap<(usize, usize), usize> = HashMap::new();
    for r in records.iter().filter(|r| r.error.is_none() && !r.top.is_empty()) {
        let Some(folder) = truth.get(&r.file) else { continue };
        let class = *label_of.entry(folder).or_insert_with(|| labels.iter().position(|l| l.matches(folder)));
        let Some(class) = class else {
            if !ev.unknown_folders.contains(folder) {
                ev.unknown_folders.push(folder.clone());
            }
            continue;
        };
        ev.images += 1;
        let first = r.top[0].index == class;
        hit1 += usize::from(first);
        hit5 += usize::from(r.top.iter().take(5).any(|g| g.index == class));
        let e = per.entry(class).or_default();
        e.0 += 1;
        e.1 += usize::from(first);
        if !first {
            *confused.entry((class, r.top[0].index)).or_default() += 1;
        }
    }
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    ev.top1 = ratio(hit1, ev.images);
    ev.top5 = ratio(hit5, ev.images);
    ev.classes = per
        .into_iter()
        .map(|(c, (n, ok))| ClassScore { class: labels[c].name().to_string(), images: n, top1: ratio(ok, n) })
        .collect();
    ev.classes.sort_by(|a, b| a.top1.total_cmp(&b.top1).then_with(|| a.class.cmp(&b.class)));
    let mut confused: Vec<_> = confused.into_iter().collect();
    confused.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    ev.confusions = confused
        .into_iter()
        .take(10)
        .map(|((t, p), count)| Confusion {
            truth: labels[t].name().to_string(),
            predicted: labels[p].name().to_string(),
            count,
        })
        .collect();
    ev.unknown_folders.sort();
    ev
}

/// The class of an image under a class folder: its parent folder's name.
pub fn folder_of(file: &Path) -> Option<String> {
    Some(file.parent()?.file_name()?.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::labels::parse;

    #[test]
    fn accuracy_and_confusions_count_by_folder() {
        let labels = parse("n00000001 red\nn00000002 green\nn00000003 blue\n", "l").unwrap();
        let rec = |f: &str, best: &[usize]| {
            Record::of_scores(
                Path::new(f),
                &{
                    let mut s = vec![0.0; 3];
                    best.iter().enumerate().for_each(|(i, &b)| s[b] = 1.0 - i as f32 * 0.1);
                    s
                },
                &labels,
                3,
                0.0,
                0,
            )
        };
        let records = vec![
            rec("/v/red/1.png", &[0]),
            rec("/v/red/2.png", &[1, 0]),
            rec("/v/n00000002/3.png", &[1]),
            rec("/v/pink/4.png", &[0]),
        ];
        let truth: HashMap<_, _> = records.iter().map(|r| (r.file.clone(), folder_of(&r.file).unwrap())).collect();
        let ev = evaluate(&records, &truth, &labels);
        assert_eq!((ev.images, ev.top1, ev.top5), (3, 2.0 / 3.0, 1.0));
        assert_eq!(ev.confusions, [Confusion { truth: "red".into(), predicted: "green".into(), count: 1 }]);
        assert_eq!(ev.classes[0], ClassScore { class: "red".into(), images: 2, top1: 0.5 });
        assert_eq!(ev.unknown_folders, ["pink"]);
    }
}
