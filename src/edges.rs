//! A strip's side of split Canny hysteresis, on one byte per pixel.
//!
//! The strip holds a map of its own rows: 0 for no candidate, [`WEAK`] for a candidate (it passed
//! `low` and non-maximum suppression), [`STRONG`] for a candidate that passed `high`
//! (`ops::canny_map_rows`). cv::Canny keeps a candidate when its 8-connected component of
//! candidates holds a strong pixel. Inside the strip that is a flood from the strong pixels
//! through the weak ones, as cv::Canny does it. Only components that touch the strip's first or
//! last rows can reach a strong pixel of another strip: those alone are labelled, and only their
//! pixels on those rows keep a label, for rank 0's union-find (`global::resolve_hysteresis`).
//!
//! Why not label every pixel: a 32-bit label per pixel is 4 bytes against the strip's 1 (gray)
//! or 3 (colour), which broke the memory bound of 1.5 × strip + 100 MB. The map is written over
//! the strip's own input, so split Canny holds the strip once, as the other ops do.

use crate::global::{HysteresisRequest, STRONG as STRONG_LABEL};
use crate::image::Image;
use anyhow::{ensure, Result};

/// A candidate that passed `low` only.
pub const WEAK: u8 = 1;
/// A candidate that passed `high`, or one joined to such a pixel.
pub const STRONG: u8 = 2;
/// Set on a pixel once the boundary labelling has visited it.
const SEEN: u8 = 0x80;
/// Set on a strong pixel once the flood has taken it (so it seeds no second flood).
const DONE: u8 = 0x40;
/// The bits that say none, weak or strong.
const KIND: u8 = 0x03;

/// A strip's map waiting for rank 0's answer, with the labels it sent.
pub struct EdgeMap {
    map: Image,
    /// The label blocks of the request: (first row of the strip's own rows, labels row-major).
    blocks: Vec<(usize, Vec<u32>)>,
}

/// The 8 neighbours of pixel `i` of a `w`×`h` map.
fn neighbours(i: usize, w: usize, h: usize) -> impl Iterator<Item = usize> {
    let (x, y) = (i % w, i / w);
    let xs = x.saturating_sub(1)..(x + 2).min(w);
    let ys = y.saturating_sub(1)..(y + 2).min(h);
    ys.flat_map(move |ny| xs.clone().map(move |nx| ny * w + nx)).filter(move |&n| n != i)
}

/// Turns every weak pixel reachable from `seed` (through weak pixels) strong.
fn flood_strong(map: &mut [u8], w: usize, h: usize, seed: usize, stack: &mut Vec<usize>) {
    map[seed] = STRONG | DONE;
    stack.push(seed);
    while let Some(p) = stack.pop() {
        for n in neighbours(p, w, h) {
            if map[n] & KIND == WEAK {
                map[n] = STRONG | DONE;
                stack.push(n);
            }
        }
    }
}

impl EdgeMap {
    /// Takes the map of the strip's own rows, which start at global row `start`, and follows its
    /// strong pixels through weak ones. The request carries the labels of the first and last
    /// `max(1, halo_after)` rows (the rows neighbours read as halo, and the rows that touch
    /// them), a label being one per component, 0 for no candidate, with the
    /// [`STRONG_LABEL`](crate::global::STRONG) bit on components that are already edges.
    pub fn new(mut map: Image, start: usize, halo_after: usize) -> Result<(EdgeMap, HysteresisRequest)> {
        ensure!(map.channels == 1, "an edge map has one channel");
        let (w, h) = (map.width, map.height);
        let mut stack = Vec::new();
        // Seeds are found in place (no list of them: on a noisy strip that list alone could
        // outgrow the map); most 16-byte blocks are all zero.
        for b in (0..map.data.len()).step_by(16) {
            let end = (b + 16).min(map.data.len());
            if map.data[b..end].iter().all(|&v| v == 0) {
                continue;
            }
            for i in b..end {
                if map.data[i] == STRONG {
                    flood_strong(&mut map.data, w, h, i, &mut stack);
                }
            }
        }

        let k = halo_after.max(1);
        let spans: &[(usize, usize)] = match h {
            0 => &[],
            _ if 2 * k >= h => &[(0, h)],
            _ => &[(0, k), (h - k, h)],
        };
        let mut blocks: Vec<(usize, Vec<u32>)> = spans.iter().map(|&(a, b)| (a, vec![0u32; (b - a) * w])).collect();
        let mut next = 1u32;
        for &(a, b) in spans {
            for i in a * w..b * w {
                if map.data[i] == 0 || map.data[i] & SEEN != 0 {
                    continue;
                }
                ensure!(next < STRONG_LABEL, "too many edge components on a strip's boundary rows");
                let label = if map.data[i] & KIND == STRONG { next | STRONG_LABEL } else { next };
                next += 1;
                map.data[i] |= SEEN;
                stack.push(i);
                while let Some(p) = stack.pop() {
                    // A pixel on a labelled row keeps its label (blocks start at row 0 or later).
                    let row = p / w;
                    if let Some((first, labels)) = blocks.iter_mut().rev().find(|(first, _)| *first <= row) {
                        if let Some(l) = labels.get_mut(p - *first * w) {
                            *l = label;
                        }
                    }
                    for n in neighbours(p, w, h) {
                        if map.data[n] != 0 && map.data[n] & SEEN == 0 {
                            map.data[n] |= SEEN;
                            stack.push(n);
                        }
                    }
                }
            }
        }
        let request = HysteresisRequest {
            owned_start: start,
            owned_end: start + h,
            halo_after,
            blocks: blocks.iter().map(|(first, labels)| (start + first, labels.clone())).collect(),
        };
        Ok((EdgeMap { map, blocks }, request))
    }

    /// The strip's final edge rows (0 or 255) once rank 0 names the labels (without the strong
    /// bit, sorted) whose components reach a strong pixel in another strip.
    pub fn finish(self, promote: &[u32]) -> Vec<u8> {
        let EdgeMap { mut map, blocks } = self;
        let (w, h) = (map.width, map.height);
        let mut stack = Vec::new();
        for (first, labels) in &blocks {
            for (j, &l) in labels.iter().enumerate() {
                let i = first * w + j;
                if l != 0 && l & STRONG_LABEL == 0 && map.data[i] & KIND == WEAK && promote.binary_search(&l).is_ok() {
                    flood_strong(&mut map.data, w, h, i, &mut stack);
                }
            }
        }
        for v in map.data.iter_mut() {
            *v = if *v & KIND == STRONG { 255 } else { 0 };
        }
        map.data
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::global::resolve_hysteresis;

    fn map(w: usize, h: usize, data: &[u8]) -> Image {
        Image::from_vec(w, h, 1, data.to_vec()).unwrap()
    }

    #[test]
    fn strong_pixels_reach_weak_ones_through_diagonals_and_alone_ones_stay_out() {
        // A diagonal run with one strong pixel, and a weak pixel on its own.
        let m = map(4, 3, &[1, 0, 0, 1, 0, 1, 0, 0, 0, 0, 2, 0]);
        let (edges, req) = EdgeMap::new(m, 0, 0).unwrap();
        // 3 rows, k = 1: first and last rows are labelled.
        assert_eq!(req.blocks.len(), 2);
        let top = &req.blocks[0].1;
        assert!(top[0] & STRONG_LABEL != 0, "the run is strong: {top:?}");
        assert!(top[3] != 0 && top[3] & STRONG_LABEL == 0, "the lone pixel is weak: {top:?}");
        assert_eq!(req.blocks[1].1[2], top[0], "one component, one label");
        assert_eq!(edges.finish(&[]), vec![255, 0, 0, 0, 0, 255, 0, 0, 0, 0, 255, 0]);
    }

    #[test]
    fn a_u_shape_is_one_component() {
        // The arms meet only in the last row; the strong pixel is at the top of the right arm.
        let m = map(3, 3, &[1, 0, 2, 1, 0, 1, 1, 1, 1]);
        let (edges, req) = EdgeMap::new(m, 5, 0).unwrap();
        assert_eq!((req.owned_start, req.owned_end), (5, 8));
        let top = &req.blocks[0].1;
        assert_eq!(top[0], top[2]);
        assert!(top[0] & STRONG_LABEL != 0);
        assert_eq!(edges.finish(&[]), vec![255, 0, 255, 255, 0, 255, 255, 255, 255]);
    }

    #[test]
    fn a_weak_edge_is_promoted_by_a_strong_pixel_in_the_next_strip() {
        // Image 3x4: a line at x=1 turning to x=2; the only strong pixel is in the bottom strip.
        let whole = [0, 1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 2];
        let (top, top_req) = EdgeMap::new(map(3, 2, &whole[..6]), 0, 1).unwrap();
        let (bottom, bottom_req) = EdgeMap::new(map(3, 2, &whole[6..]), 2, 1).unwrap();
        let replies = resolve_hysteresis(&[top_req, bottom_req], 3, 4).unwrap();
        assert_eq!(top.finish(&replies[0].promote), vec![0, 255, 0, 0, 255, 0]);
        assert_eq!(bottom.finish(&replies[1].promote), vec![0, 0, 255, 0, 0, 255]);
        assert_eq!(replies[0].halo_below, (2, vec![0, 0, 255]));
        assert_eq!(replies[1].halo_above, (1, vec![0, 255, 0]));
    }

    #[test]
    fn a_weak_component_not_promoted_is_dropped_and_rows_between_keep_no_labels() {
        // 6 rows, k = 1: a weak vertical line over every row, nothing strong anywhere.
        let mut data = vec![0u8; 3 * 6];
        (0..6).for_each(|y| data[y * 3 + 1] = WEAK);
        let (edges, req) = EdgeMap::new(map(3, 6, &data), 0, 1).unwrap();
        assert_eq!(req.blocks.iter().map(|b| (b.0, b.1.len())).collect::<Vec<_>>(), vec![(0, 3), (5, 3)]);
        assert_eq!(req.blocks[0].1[1], req.blocks[1].1[1], "the line joins top and bottom rows");
        assert!(edges.finish(&[]).iter().all(|&v| v == 0));
        // Promoted, the whole line becomes an edge.
        let (edges, req) = EdgeMap::new(map(3, 6, &data), 0, 1).unwrap();
        let label = req.blocks[0].1[1];
        let out = edges.finish(&[label]);
        assert!((0..6).all(|y| out[y * 3 + 1] == 255) && out.iter().filter(|&&v| v != 0).count() == 6);
    }

    #[test]
    fn an_empty_strip_sends_no_rows() {
        let (edges, req) = EdgeMap::new(Image::zeros(4, 0, 1), 7, 2).unwrap();
        assert!(req.blocks.is_empty());
        assert_eq!((req.owned_start, req.owned_end), (7, 7));
        assert!(edges.finish(&[]).is_empty());
    }
}
