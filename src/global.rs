//! The global steps, as pure functions: what each strip contributes and how rank 0 combines them.
//!
//! - contrast-stretch: per-strip histograms are summed (an all-reduce) and every rank builds the
//!   same lookup table from the total.
//! - Canny hysteresis: on a strip with its halo, `Canny(low, low)` marks the candidate pixels and
//!   `Canny(high, high)` the strong ones (both are exact inside the strip; the second is computed
//!   from the first, `ops::strong_among`). An edge pixel is a candidate whose 8-connected
//!   component of candidates, over the whole image, holds a strong pixel: exactly cv::Canny's
//!   hysteresis. Each strip follows its strong pixels inside its own rows and labels the
//!   components on its boundary rows (`edges`); rank 0 joins labels that touch across strip
//!   boundaries with a union-find ([`resolve_hysteresis`]).
//!
//! No MPI here: the master/worker layer only moves these values.

use crate::image::Image;
use anyhow::{ensure, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Counts of each byte value over all channels.
pub fn histogram(bytes: &[u8]) -> [u64; 256] {
    let mut h = [0u64; 256];
    for &b in bytes {
        h[b as usize] += 1;
    }
    h
}

/// The contrast-stretch table: `LUT[v] = floor((cdf[v] − cdf_min)·255 / (cdf_max − cdf_min))` where
/// `cdf[v] > 0`, else 0; `cdf_min` is the smallest non-zero cdf. A constant (or empty) image maps to
/// itself.
pub fn stretch_lut(hist: &[u64; 256]) -> [u8; 256] {
    let mut cdf = [0u64; 256];
    let mut acc = 0u64;
    for (c, h) in cdf.iter_mut().zip(hist) {
        acc += h;
        *c = acc;
    }
    let cdf_max = acc;
    let cdf_min = cdf.iter().copied().find(|&c| c > 0).unwrap_or(0);
    let mut lut = [0u8; 256];
    if cdf_max == cdf_min {
        for (v, l) in lut.iter_mut().enumerate() {
            *l = v as u8;
        }
        return lut;
    }
    for (l, &c) in lut.iter_mut().zip(&cdf) {
        if c > 0 {
            *l = ((c - cdf_min) as u128 * 255 / (cdf_max - cdf_min) as u128) as u8;
        }
    }
    lut
}

/// [`apply_lut`] over the image's own bytes: a strip is not held twice for a lookup.
pub fn apply_lut_in_place(img: &mut Image, lut: &[u8; 256]) {
    img.data.iter_mut().for_each(|v| *v = lut[*v as usize]);
}

/// Maps every byte through the table.
pub fn apply_lut(img: &Image, lut: &[u8; 256]) -> Image {
    let data = img.data.iter().map(|&v| lut[v as usize]).collect();
    Image { data, ..*img }
}

/// Bit set on a label whose component (inside its strip) holds a strong pixel.
pub const STRONG: u32 = 1 << 31;

/// Calls `f` with the index of every non-zero byte of `bytes`, skipping zero runs 16 bytes at a
/// time: edge maps are mostly zero, and the split Canny walks each several times.
pub fn for_each_set(bytes: &[u8], mut f: impl FnMut(usize)) {
    let mut blocks = bytes.chunks_exact(16);
    for (b, block) in blocks.by_ref().enumerate() {
        if u128::from_ne_bytes(block.try_into().expect("16 bytes")) == 0 {
            continue;
        }
        for (i, &v) in block.iter().enumerate() {
            if v != 0 {
                f(b * 16 + i);
            }
        }
    }
    let tail = bytes.len() - blocks.remainder().len();
    for (i, &v) in blocks.remainder().iter().enumerate() {
        if v != 0 {
            f(tail + i);
        }
    }
}

/// What a strip sends to rank 0 for hysteresis: its own rows and the labels of the rows near its
/// edges (the first and last `max(1, halo after Canny)` rows, which neighbours read as halo).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HysteresisRequest {
    /// First row the strip owns.
    pub owned_start: usize,
    /// One past the last row the strip owns.
    pub owned_end: usize,
    /// Halo rows the ops after Canny read (the same for every strip).
    pub halo_after: usize,
    /// Blocks of label rows: (first global row, labels row-major).
    pub blocks: Vec<(usize, Vec<u32>)>,
}

/// Rank 0's answer to one strip.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HysteresisReply {
    /// The strip's labels (without the [`STRONG`] bit) whose component reaches a strong pixel in
    /// another strip.
    pub promote: Vec<u32>,
    /// Final edge rows (0 or 255) for the halo rows `[halo_above.0, owned_start)` and
    /// `[owned_end, ..)`, owned by other strips, that later ops in the chain read.
    pub halo_above: (usize, Vec<u8>),
    pub halo_below: (usize, Vec<u8>),
}

/// Rank 0's step: joins components across strip boundaries and answers every strip.
/// `requests` are in rank order and their owned rows tile `[0, height)` in order.
pub fn resolve_hysteresis(requests: &[HysteresisRequest], width: usize, height: usize) -> Result<Vec<HysteresisReply>> {
    let halo_after = requests.first().map_or(0, |r| r.halo_after);
    ensure!(requests.iter().all(|r| r.halo_after == halo_after), "strips disagree about the halo after Canny");
    // Label rows by global row: row -> (strip index, labels).
    let mut rows: HashMap<usize, (usize, &[u32])> = HashMap::new();
    for (s, req) in requests.iter().enumerate() {
        for (first, data) in &req.blocks {
            ensure!(data.len() % width.max(1) == 0, "label block of strip {s} is not whole rows");
            for (i, row) in data.chunks(width.max(1)).enumerate() {
                rows.insert(first + i, (s, row));
            }
        }
    }
    // Union-find over (strip, label) nodes that sit on a boundary row.
    let mut ids: HashMap<(usize, u32), usize> = HashMap::new();
    let mut parent: Vec<usize> = Vec::new();
    let mut strong: Vec<bool> = Vec::new();
    let mut node = |s: usize, l: u32, parent: &mut Vec<usize>, strong: &mut Vec<bool>| -> usize {
        *ids.entry((s, l & !STRONG)).or_insert_with(|| {
            parent.push(parent.len());
            strong.push(l & STRONG != 0);
            parent.len() - 1
        })
    };
    fn root(parent: &mut [usize], mut x: usize) -> usize {
        while parent[x] != x {
            parent[x] = parent[parent[x]];
            x = parent[x];
        }
        x
    }
    for (s, req) in requests.iter().enumerate() {
        if req.owned_start == req.owned_end || req.owned_end >= height {
            continue;
        }
        let (Some(&(sa, above)), Some(&(sb, below))) = (rows.get(&(req.owned_end - 1)), rows.get(&req.owned_end))
        else {
            anyhow::bail!("hysteresis: boundary rows of strip {s} are missing");
        };
        for (x, &a) in above.iter().enumerate().take(width) {
            if a == 0 {
                continue;
            }
            for &b in &below[x.saturating_sub(1)..(x + 2).min(width)] {
                if b != 0 {
                    let na = node(sa, a, &mut parent, &mut strong);
                    let nb = node(sb, b, &mut parent, &mut strong);
                    let (ra, rb) = (root(&mut parent, na), root(&mut parent, nb));
                    parent[ra] = rb;
                }
            }
        }
    }
    // A joined component is strong when any of its strip-local parts is.
    let mut component_strong = vec![false; parent.len()];
    for (n, &is_strong) in strong.iter().enumerate() {
        let r = root(&mut parent, n);
        component_strong[r] |= is_strong;
    }
    let mut promoted: Vec<Vec<u32>> = vec![Vec::new(); requests.len()];
    let keys: Vec<((usize, u32), usize)> = ids.iter().map(|(&k, &v)| (k, v)).collect();
    let mut promoted_set: HashMap<(usize, u32), ()> = HashMap::new();
    for ((s, l), n) in keys {
        let r = root(&mut parent, n);
        if component_strong[r] && !strong[n] {
            promoted[s].push(l);
            promoted_set.insert((s, l), ());
        }
    }
    let is_edge = |s: usize, l: u32| l != 0 && (l & STRONG != 0 || promoted_set.contains_key(&(s, l & !STRONG)));
    let edge_rows = |from: usize, to: usize| -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity((to - from) * width);
        for y in from..to {
            let Some(&(s, row)) = rows.get(&y) else { anyhow::bail!("hysteresis: halo row {y} was not sent") };
            out.extend(row.iter().map(|&l| if is_edge(s, l) { 255u8 } else { 0 }));
        }
        Ok(out)
    };
    let mut replies = Vec::with_capacity(requests.len());
    for (s, req) in requests.iter().enumerate() {
        let mut promote = std::mem::take(&mut promoted[s]);
        promote.sort_unstable();
        let reply = if req.owned_start == req.owned_end {
            HysteresisReply { promote, halo_above: (req.owned_start, vec![]), halo_below: (req.owned_end, vec![]) }
        } else {
            let above = req.owned_start.saturating_sub(halo_after);
            let below = (req.owned_end + halo_after).min(height);
            HysteresisReply {
                promote,
                halo_above: (above, edge_rows(above, req.owned_start)?),
                halo_below: (req.owned_end, edge_rows(req.owned_end, below)?),
            }
        };
        replies.push(reply);
    }
    Ok(replies)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn for_each_set_finds_every_non_zero_byte_in_blocks_and_tail() {
        for len in [0, 1, 15, 16, 17, 33, 100] {
            for step in [1, 3, 7, 16, 40] {
                let bytes: Vec<u8> = (0..len).map(|i| u8::from(i % step == step - 1) * (i as u8 | 1)).collect();
                let expected: Vec<usize> = (0..len).filter(|&i| bytes[i] != 0).collect();
                let mut got = vec![];
                for_each_set(&bytes, |i| got.push(i));
                assert_eq!(got, expected, "length {len}, every {step}th byte set");
            }
        }
    }

    #[test]
    fn stretch_lut_spreads_values_over_the_full_range() {
        let mut hist = [0u64; 256];
        hist[10] = 1;
        hist[20] = 2;
        hist[30] = 1;
        let lut = stretch_lut(&hist);
        // cdf: 10 -> 1, 20 -> 3, 30 -> 4; cdf_min 1, cdf_max 4.
        assert_eq!((lut[10], lut[20], lut[30]), (0, 170, 255));
        assert_eq!(lut[5], 0);
        assert_eq!(lut[25], 170);
    }

    #[test]
    fn stretch_of_a_constant_image_is_the_identity() {
        let lut = stretch_lut(&histogram(&[42; 10]));
        assert!(lut.iter().enumerate().all(|(v, &l)| l == v as u8));
    }
}
