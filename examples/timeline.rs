//! Draws the per-rank timelines of `imgproc run --json` summaries as one PNG:
//! `timeline SUMMARY.json... -o OUT.png`.
//!
//! One panel per summary (titled with its ranks, op and wall time), one lane per rank, one bar per
//! timeline span coloured by phase, on a time axis in seconds shared by every panel so they can be
//! compared by eye. Spans that overlap within a rank (rank 0 writing a worker's piece while it
//! encodes its own) are stacked in thinner sub-lanes. A summary without timelines (`--reference`)
//! is drawn as one lane with a single bar for its whole job.

use anyhow::{bail, Context, Result};
use opencv::core::{Mat, Point, Rect, Scalar, CV_8UC3};
use opencv::imgproc::{self as cv, FONT_HERSHEY_SIMPLEX, LINE_8, LINE_AA};
use serde::Deserialize;

#[derive(Deserialize)]
struct Summary {
    op: String,
    ranks: usize,
    mode: String,
    wall_secs: f64,
    #[serde(default)]
    io: Option<String>,
    #[serde(default)]
    per_rank: Vec<RankSummary>,
}

#[derive(Deserialize)]
struct RankSummary {
    rank: usize,
    #[serde(default)]
    timeline: Vec<Span>,
}

#[derive(Deserialize, Clone)]
struct Span {
    phase: String,
    start: f64,
    end: f64,
}

/// Phases in the order of the legend, with their BGR colours; "read+send to N" is "read+send".
const PHASES: &[(&str, [f64; 3])] = &[
    ("open", [190., 190., 190.]),
    ("decode", [60., 110., 230.]),
    ("read+send", [40., 160., 250.]),
    ("read", [80., 200., 250.]),
    ("receive", [200., 160., 90.]),
    ("filter", [90., 170., 60.]),
    ("encode", [170., 80., 150.]),
    ("write", [60., 60., 200.]),
    ("whole job", [120., 120., 120.]),
];

const WIDTH: i32 = 1200;
const LEFT: i32 = 90;
const RIGHT: i32 = 40;
const TITLE: i32 = 30;
const LANE: i32 = 30;
const AXIS: i32 = 34;
const LEGEND: i32 = 36;
const FONT: f64 = 0.45;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: timeline SUMMARY.json... -o OUT.png";
    let out = args.iter().position(|a| a == "-o").and_then(|i| args.get(i + 1)).context(usage)?;
    let inputs: Vec<&String> = args
        .iter()
        .enumerate()
        .filter(|&(i, a)| a != "-o" && (i == 0 || args[i - 1] != "-o"))
        .map(|(_, a)| a)
        .collect();
    if inputs.is_empty() {
        bail!(usage);
    }
    let summaries = inputs
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).with_context(|| format!("reading {p}"))?;
            serde_json::from_str::<Summary>(&text).with_context(|| format!("parsing {p}"))
        })
        .collect::<Result<Vec<_>>>()?;

    let lanes: Vec<Vec<Vec<Span>>> = summaries.iter().map(lanes_of).collect();
    let t_max = summaries.iter().map(|s| s.wall_secs).fold(0.0, f64::max).max(1e-3);
    let height = TITLE * summaries.len() as i32
        + lanes.iter().map(|l| l.len() as i32 * LANE).sum::<i32>()
        + AXIS * summaries.len() as i32
        + LEGEND;
    let mut img = Mat::new_rows_cols_with_default(height, WIDTH, CV_8UC3, Scalar::all(255.))?;
    let scale = (WIDTH - LEFT - RIGHT) as f64 / t_max;
    let x_of = |t: f64| LEFT + (t * scale).round() as i32;

    let mut y = 0;
    for (summary, lanes) in summaries.iter().zip(&lanes) {
        let who = if summary.mode == "reference" {
            "one process (--reference)".to_string()
        } else {
            format!("{} rank(s)", summary.ranks)
        };
        let io = summary.io.as_deref().map(|io| format!(", {io}")).unwrap_or_default();
        let title = format!("{who}, {}: {:.2} s{io}", summary.op, summary.wall_secs);
        text(&mut img, &title, Point::new(10, y + 20), 0.5, 1)?;
        y += TITLE;
        for (i, lane) in lanes.iter().enumerate() {
            let label = if summary.mode == "reference" { "process".to_string() } else { format!("rank {i}") };
            text(&mut img, &label, Point::new(10, y + LANE / 2 + 5), FONT, 1)?;
            draw_lane(&mut img, lane, y + 3, LANE - 6, &x_of)?;
            y += LANE;
        }
        draw_axis(&mut img, y, t_max, &x_of)?;
        y += AXIS;
    }
    draw_legend(&mut img, y + 8)?;

    let ok = imgproc::cvio::imgcodecs::imwrite(out, &img, &[]).with_context(|| format!("writing {out}"))?;
    if !ok {
        bail!("OpenCV could not write {out}");
    }
    Ok(())
}

/// The spans of every rank, in rank order; one "whole job" span for a summary without timelines.
fn lanes_of(s: &Summary) -> Vec<Vec<Span>> {
    let mut ranks: Vec<&RankSummary> = s.per_rank.iter().filter(|r| !r.timeline.is_empty()).collect();
    if ranks.is_empty() {
        return vec![vec![Span { phase: "whole job".into(), start: 0.0, end: s.wall_secs }]];
    }
    ranks.sort_by_key(|r| r.rank);
    ranks.iter().map(|r| r.timeline.clone()).collect()
}

/// Draws one rank's spans between `top` and `top + height`, overlapping spans in sub-lanes.
fn draw_lane(img: &mut Mat, spans: &[Span], top: i32, height: i32, x_of: &dyn Fn(f64) -> i32) -> Result<()> {
    // Greedy interval layering: each span goes to the first sub-lane it does not overlap.
    let mut order: Vec<&Span> = spans.iter().collect();
    order.sort_by(|a, b| a.start.total_cmp(&b.start));
    let mut sub_ends: Vec<f64> = Vec::new();
    let mut placed = Vec::new();
    for s in order {
        let k = sub_ends.iter().position(|&e| e <= s.start + 1e-6).unwrap_or(sub_ends.len());
        if k == sub_ends.len() {
            sub_ends.push(s.end);
        } else {
            sub_ends[k] = s.end;
        }
        placed.push((k, s));
    }
    let sub_h = height / sub_ends.len().max(1) as i32;
    for (k, s) in placed {
        let (x0, x1) = (x_of(s.start), x_of(s.end).max(x_of(s.start) + 1));
        let rect = Rect::new(x0, top + k as i32 * sub_h, x1 - x0, sub_h - 1);
        cv::rectangle(img, rect, colour(&s.phase), -1, LINE_8, 0)?;
        cv::rectangle(img, rect, Scalar::all(80.), 1, LINE_8, 0)?;
        // Which worker rank 0 is reading for, where the bar is wide enough to say it.
        if let Some(to) = s.phase.strip_prefix("read+send ") {
            if x1 - x0 > 40 && sub_h >= 14 {
                text(img, to, Point::new(x0 + 4, top + k as i32 * sub_h + sub_h / 2 + 4), 0.38, 1)?;
            }
        }
    }
    Ok(())
}

/// A line under the lanes with a tick and label every "nice" step of seconds.
fn draw_axis(img: &mut Mat, y: i32, t_max: f64, x_of: &dyn Fn(f64) -> i32) -> Result<()> {
    let grey = Scalar::all(90.);
    cv::line(img, Point::new(x_of(0.0), y + 2), Point::new(x_of(t_max), y + 2), grey, 1, LINE_8, 0)?;
    let step = [0.05, 0.1, 0.2, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0]
        .into_iter()
        .find(|s| t_max / s <= 12.0)
        .unwrap_or(120.0);
    let mut t = 0.0;
    while t <= t_max + 1e-9 {
        let x = x_of(t);
        cv::line(img, Point::new(x, y + 2), Point::new(x, y + 7), grey, 1, LINE_8, 0)?;
        let label = if step < 1.0 { format!("{t:.2}") } else { format!("{t:.0}") };
        text(img, &label, Point::new(x - 12, y + 21), 0.4, 1)?;
        t += step;
    }
    text(img, "s", Point::new(x_of(t_max) + 26, y + 21), 0.4, 1)?;
    Ok(())
}

fn draw_legend(img: &mut Mat, y: i32) -> Result<()> {
    let mut x = 10;
    for (name, _) in PHASES {
        let rect = Rect::new(x, y, 16, 14);
        cv::rectangle(img, rect, colour(name), -1, LINE_8, 0)?;
        cv::rectangle(img, rect, Scalar::all(80.), 1, LINE_8, 0)?;
        text(img, name, Point::new(x + 22, y + 12), FONT, 1)?;
        let mut base = 0;
        let size = cv::get_text_size(name, FONT_HERSHEY_SIMPLEX, FONT, 1, &mut base)?;
        x += 22 + size.width + 18;
    }
    Ok(())
}

fn colour(phase: &str) -> Scalar {
    let name = if phase.starts_with("read+send") { "read+send" } else { phase };
    let bgr = PHASES.iter().find(|(n, _)| *n == name).map_or([0., 0., 0.], |(_, c)| *c);
    Scalar::new(bgr[0], bgr[1], bgr[2], 0.)
}

fn text(img: &mut Mat, s: &str, at: Point, scale: f64, thickness: i32) -> Result<()> {
    cv::put_text(img, s, at, FONT_HERSHEY_SIMPLEX, scale, Scalar::all(20.), thickness, LINE_AA, false)?;
    Ok(())
}
