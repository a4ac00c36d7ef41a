//! Which rows each rank owns and which rows (with halo) it receives: pure arithmetic, no pixels.

use serde::{Deserialize, Serialize};
use std::ops::Range;

/// One rank's share of an image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Strip {
    /// Rows whose result this rank delivers. Strips' owned ranges tile `[0, height)` in rank order.
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
}
