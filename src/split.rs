//! Which rows each rank owns and which rows (with halo) it receives: pure arithmetic, no pixels.

use serde::{Deserialize, Serialize};
use std::ops::Range;

/// One rank's share of an image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Strip {
    /// Rows whose result this rank delivers. Strips' owned ranges tile `[0, height)`: in rank order, or
    /// (streamed plans) workers first and rank 0 last.
    pub owned: Range<usize>,
    /// Rows it receives: `owned` widened by the chain's halo, clamped to the image.
    pub input: Range<usize>,
}

/// Rows `owned` widened by `halo` on both sides, clamped to `[0, height)`; empty stays empty.
pub fn widen(owned: &Range<usize>, halo: usize, height: usize) -> Range<usize> {
    if owned.is_empty() {
        return owned.clone();
    }
    owned.start.saturating_sub(halo)..(owned.end + halo).min(height)
}

/// Splits `height` rows over `ranks` ranks as evenly as possible (the first ones get one row more).
/// With `skip_rank0` rank 0 only coordinates and gets no rows. Ranks beyond the row count get
/// empty strips, so every rank count works for every image size.
pub fn plan(height: usize, ranks: usize, halo: usize, skip_rank0: bool) -> Vec<Strip> {
    assert!(ranks > 0, "a plan needs at least one rank");
    let first = usize::from(skip_rank0 && ranks > 1);
    let workers = ranks - first;
    let (base, extra) = (height / workers, height % workers);
    let mut strips = vec![Strip { owned: 0..0, input: 0..0 }; first];
    let mut start = 0;
    for i in 0..workers {
        let rows = base + usize::from(i < extra);
        let owned = start..start + rows;
        strips.push(Strip { input: widen(&owned, halo, height), owned });
        start += rows;
    }
    strips
}

/// A plan for a streamed image: the image is decoded (or encoded) top to bottom, so the workers
/// own the first rows in rank order and rank 0 the last ones: their rows are ready (and their
/// pieces of the file are due) before rank 0's. Every boundary between strips is a multiple of
/// `align` rows (a JPEG's MCU rows, a TIFF's strips), so each strip encodes as whole units.
/// `rank0_weight` is rank 0's share relative to a worker's (below 1 when rank 0 also decodes for
/// everyone); with `skip_rank0` it gets nothing when there are workers. Indexed by rank.
pub fn plan_streamed(
    height: usize,
    ranks: usize,
    halo: usize,
    skip_rank0: bool,
    align: usize,
    rank0_weight: f64,
) -> Vec<Strip> {
    assert!(ranks > 0 && align > 0, "a plan needs at least one rank and an alignment of one row");
    let weight0 = if ranks == 1 {
        1.0
    } else if skip_rank0 {
        0.0
    } else {
        rank0_weight.clamp(0.0, 1.0)
    };
    let total = (ranks - 1) as f64 + weight0;
    // Cut points in row order: workers 1..n first, rank 0 last; each rounded to `align`.
    let mut cuts = vec![0];
    let mut acc = 0.0;
    for _ in 1..ranks {
        acc += 1.0 / total;
        let at = ((acc * height as f64 / align as f64).round() as usize * align).min(height);
        cuts.push(at.max(*cuts.last().unwrap_or(&0)));
    }
    cuts.push(height);
    if ranks > 1 && skip_rank0 {
        let last = cuts.len() - 2;
        cuts[last] = height;
    }
    let strip = |i: usize| {
        let owned = cuts[i]..cuts[i + 1];
        Strip { input: widen(&owned, halo, height), owned }
    };
    // Position i in row order belongs to rank i + 1; the last position to rank 0.
    let mut strips = vec![strip(ranks - 1)];
    strips.extend((0..ranks - 1).map(strip));
    strips
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn seven_rows_over_three_ranks_with_a_halo_of_two() {
        let p = plan(7, 3, 2, false);
        assert_eq!(p.iter().map(|s| s.owned.clone()).collect::<Vec<_>>(), vec![0..3, 3..5, 5..7]);
        assert_eq!(p[1].input, 1..7);
        assert_eq!(p[0].input, 0..5);
    }

    #[test]
    fn coordinator_only_rank0_owns_nothing() {
        let p = plan(10, 3, 1, true);
        assert!(p[0].owned.is_empty() && p[0].input.is_empty());
        assert_eq!(p[1].owned, 0..5);
        assert_eq!(p[2].owned, 5..10);
        // With a single rank it has to do the work anyway.
        assert_eq!(plan(10, 1, 1, true)[0].owned, 0..10);
    }

    proptest! {
        #[test]
        fn owned_rows_tile_the_image_for_any_rank_count(height in 0usize..200, ranks in 1usize..17, halo in 0usize..20, skip in any::<bool>()) {
            let p = plan(height, ranks, halo, skip);
            prop_assert_eq!(p.len(), ranks);
            let mut next = 0;
            for s in &p {
                if s.owned.is_empty() { continue; }
                prop_assert_eq!(s.owned.start, next);
                next = s.owned.end;
                prop_assert!(s.input.start <= s.owned.start && s.owned.end <= s.input.end && s.input.end <= height);
                prop_assert_eq!(s.input.start, s.owned.start.saturating_sub(halo));
            }
            prop_assert_eq!(next, height);
        }
    }

    #[test]
    fn streamed_plans_give_rank0_the_last_rows_on_aligned_cuts() {
        let p = plan_streamed(100, 3, 2, false, 16, 1.0);
        assert_eq!(p[1].owned, 0..32);
        assert_eq!(p[2].owned, 32..64);
        assert_eq!(p[0].owned, 64..100);
        assert_eq!(p[0].input, 62..100);
        // A lighter rank 0 gets fewer rows; coordinator-only none.
        let p = plan_streamed(1000, 2, 0, false, 1, 0.5);
        assert_eq!((p[1].owned.clone(), p[0].owned.clone()), (0..667, 667..1000));
        let p = plan_streamed(1000, 3, 0, true, 8, 1.0);
        assert!(p[0].owned.is_empty());
        assert_eq!(p[2].owned.end, 1000);
    }

    proptest! {
        #[test]
        fn streamed_plans_tile_the_image_on_aligned_cuts(height in 0usize..300, ranks in 1usize..9, halo in 0usize..9,
                skip in any::<bool>(), align in 1usize..20, weight in 0.0f64..1.0) {
            let p = plan_streamed(height, ranks, halo, skip, align, weight);
            prop_assert_eq!(p.len(), ranks);
            let order: Vec<&Strip> = p[1..].iter().chain(std::iter::once(&p[0])).collect();
            let mut next = 0;
            for s in order {
                if s.owned.is_empty() { continue; }
                prop_assert_eq!(s.owned.start, next);
                prop_assert!(s.owned.start % align == 0);
                prop_assert_eq!(s.input.clone(), widen(&s.owned, halo, height));
                next = s.owned.end;
            }
            prop_assert_eq!(next, height);
        }
    }
}
