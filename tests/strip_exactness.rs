//! Split + halo + global steps + merge equals the whole-image OpenCV result, byte for byte, for
//! random images, op chains and rank counts. Runs the distributed algorithm in one process
//! (`exec::run_in_process`), so no MPI is involved; `tests/mpi_cli.rs` checks the MPI layer.

use imgproc::chain::OpChain;
use imgproc::edges::{STRONG, WEAK};
use imgproc::exec::{run_in_process, run_in_process_chunked, CHUNK_BYTES};
use imgproc::image::Image;
use imgproc::ops::{
    canny_map_rows, cv_canny, in_row_chunks_in_place, strong_among, Op, OpKind, ParamKind, ParamSpec, ParamValue,
};
use imgproc::synth::picture;
use proptest::prelude::*;

/// Any op: its defaults, or every parameter drawn from the registry's typical range (the whole
/// range is valid but a 255-wide kernel on a tiny image only tests the same edges, slowly).
/// Combinations the op refuses (Canny's low above high) are left out.
fn op_strategy() -> impl Strategy<Value = Op> {
    let kinds = || prop::sample::select(OpKind::ALL);
    prop_oneof![
        1 => kinds().prop_map(OpKind::default_op),
        4 => kinds().prop_flat_map(|kind| {
            let params: Vec<_> = kind.spec().params.iter().map(param_strategy).collect();
            params.prop_map(move |values| {
                let mut op = kind.default_op();
                for (param, value) in kind.spec().params.iter().zip(values) {
                    op.set(param.name, value).unwrap();
                }
                op
            })
        }),
    ]
    .prop_filter("the op accepts its parameters", |op| op.validate().is_ok())
}

/// A value of `param` within its typical range.
fn param_strategy(param: &ParamSpec) -> BoxedStrategy<ParamValue> {
    let (lo, hi) = param.typical;
    match param.kind {
        ParamKind::Int { odd: false, .. } => (lo as i64..=hi as i64).prop_map(ParamValue::Int).boxed(),
        // 2k + 1 over the odd values of the range.
        ParamKind::Int { odd: true, .. } => {
            ((lo as i64 - 1) / 2..=(hi as i64 - 1) / 2).prop_map(|k| ParamValue::Int(2 * k + 1)).boxed()
        }
        ParamKind::Float { .. } => (lo..=hi).prop_map(ParamValue::Float).boxed(),
        ParamKind::Choice(choices) => prop::sample::select(choices).prop_map(ParamValue::Int).boxed(),
        ParamKind::Bool => any::<bool>().prop_map(ParamValue::Bool).boxed(),
    }
}

fn check(chain: &OpChain, img: &Image, ranks: usize, skip_rank0: bool) -> Result<(), TestCaseError> {
    check_chunked(chain, img, ranks, skip_rank0, CHUNK_BYTES)
}

/// Strips apply each op a chunk of about `chunk_bytes` of rows at a time (at least one row).
fn check_chunked(
    chain: &OpChain,
    img: &Image,
    ranks: usize,
    skip_rank0: bool,
    chunk_bytes: usize,
) -> Result<(), TestCaseError> {
    let expected = chain.apply_reference(img).unwrap();
    let got = run_in_process_chunked(chain, img, ranks, skip_rank0, chunk_bytes).unwrap();
    prop_assert_eq!(got.height, expected.height);
    prop_assert_eq!(got.channels, expected.channels);
    if got.data != expected.data {
        let first = got.data.iter().zip(&expected.data).position(|(a, b)| a != b).unwrap();
        let row = first / (expected.width * expected.channels);
        return Err(TestCaseError::fail(format!(
            "{chain} on {img:?} with {ranks} ranks, chunks of {chunk_bytes} bytes: first difference in row {row}"
        )));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn any_chain_on_strips_equals_the_whole_image_result(
        w in 1usize..48, h in 1usize..70, colour in any::<bool>(), seed in any::<u64>(),
        ops in prop::collection::vec(op_strategy(), 1..4), ranks in 1usize..17, skip in any::<bool>(),
        chunk_bytes in prop_oneof![Just(CHUNK_BYTES), 1usize..1000],
    ) {
        let img = picture(w, h, if colour { 3 } else { 1 }, seed);
        check_chunked(&OpChain(ops), &img, ranks, skip, chunk_bytes)?;
    }

    #[test]
    fn every_single_op_on_strips_equals_the_whole_image_result(
        w in 1usize..64, h in 1usize..90, colour in any::<bool>(), seed in any::<u64>(),
        op in op_strategy(), ranks in 1usize..17, chunk_bytes in prop_oneof![Just(CHUNK_BYTES), 1usize..1000],
    ) {
        let img = picture(w, h, if colour { 3 } else { 1 }, seed);
        check_chunked(&OpChain(vec![op]), &img, ranks, false, chunk_bytes)?;
    }

    /// Strips compute Canny's map (candidates and strong pixels) a chunk of rows at a time, to
    /// bound OpenCV's memory: any chunking gives the map of `Canny(low, low)` and
    /// `Canny(high, high)` on the whole image, for every aperture (7 takes the second pass).
    #[test]
    fn canny_map_in_chunks_equals_two_whole_image_calls(
        w in 1usize..40, h in 1usize..60, colour in any::<bool>(), seed in any::<u64>(),
        low in 0.0f64..300.0, extra in 0.0f64..300.0, aperture in prop_oneof![Just(3u32), Just(5), Just(7)],
        l2 in any::<bool>(), first in 0usize..60, len in 0usize..60, chunk in 1usize..9,
    ) {
        let img = picture(w, h, if colour { 3 } else { 1 }, seed);
        let start = first.min(h);
        let end = (start + len).min(h);
        let high = low + extra;
        let halo = Op::Canny { low, high, aperture, l2 }.halo();
        let candidates = cv_canny(&img, low, low, aperture, l2).unwrap().crop_rows(start, end);
        let strong = cv_canny(&img, high, high, aperture, l2).unwrap().crop_rows(start, end);
        let whole: Vec<u8> = candidates.data.iter().zip(&strong.data)
            .map(|(&c, &s)| if s != 0 { STRONG } else if c != 0 { WEAK } else { 0 })
            .collect();
        let chunked = in_row_chunks_in_place(img.clone(), start..end, halo, chunk, 1, |window, r| {
            canny_map_rows(window, r, low, high, aperture, l2)
        }).unwrap();
        prop_assert_eq!(chunked.data, whole);
    }

    /// Split hysteresis takes the strong pixels from the candidates and the gradient at them
    /// instead of a second Canny pass: any thresholds, rows, aperture 3 or 5, L1 or L2 give the
    /// bytes of `Canny(high, high)`.
    #[test]
    fn strong_pixels_from_the_candidates_equal_canny_high_high(
        w in 1usize..40, h in 1usize..60, colour in any::<bool>(), seed in any::<u64>(),
        low in 0u32..1200, extra in 0u32..1200, frac in prop_oneof![Just(0.0f64), 0.0f64..1.0],
        aperture in prop_oneof![Just(3u32), Just(5)], l2 in any::<bool>(), first in 0usize..60, len in 0usize..60,
    ) {
        let img = picture(w, h, if colour { 3 } else { 1 }, seed);
        let start = first.min(h);
        let end = (start + len).min(h);
        // Whole thresholds often equal a magnitude exactly, where `>` against `>=` shows.
        let (low, high) = (f64::from(low), f64::from(low + extra) + frac);
        let candidates = cv_canny(&img, low, low, aperture, l2).unwrap().crop_rows(start, end);
        let strong = cv_canny(&img, high, high, aperture, l2).unwrap().crop_rows(start, end);
        prop_assert_eq!(strong_among(&img, start..end, &candidates, high, aperture, l2).unwrap(), strong);
    }
}

#[test]
fn every_op_matches_on_tiny_and_odd_sized_images() {
    for (w, h) in [(1, 1), (1, 7), (7, 1), (3, 2), (13, 5), (31, 17)] {
        for channels in [1, 3] {
            let img = picture(w, h, channels, (w * 31 + h) as u64);
            for kind in OpKind::ALL {
                let chain = OpChain(vec![kind.default_op()]);
                for ranks in 1..=16 {
                    check(&chain, &img, ranks, false).unwrap();
                }
            }
        }
    }
}

/// A long weak edge that is only strong at the bottom: per-strip Canny would lose its upper part.
#[test]
fn canny_edges_cross_strip_boundaries_exactly() {
    let (w, h) = (40, 64);
    let mut data = vec![0u8; w * h];
    for y in 0..h {
        // Left half dark, right half a bit brighter; the step grows strong only near the bottom.
        let step = if y > 56 { 200 } else { 40 };
        for x in w / 2..w {
            data[y * w + x] = step;
        }
    }
    let img = Image::from_vec(w, h, 1, data).unwrap();
    let chain = OpChain::parse("canny:low=50:high=150", &[]).unwrap();
    let expected = chain.apply_reference(&img).unwrap();
    assert!(expected.rows(0, 8).contains(&255), "the reference keeps the weak top of the edge");
    for ranks in [2, 3, 5, 8, 16] {
        assert_eq!(run_in_process(&chain, &img, ranks, false).unwrap(), expected, "{ranks} ranks");
    }
}

#[test]
fn contrast_stretch_uses_the_whole_image_histogram_not_each_strips() {
    // Top half dark, bottom half bright: per-strip equalisation would stretch each half alone.
    let (w, h) = (16, 32);
    let data = (0..w * h).map(|i| if i < w * h / 2 { 10 + (i % 5) as u8 } else { 200 + (i % 7) as u8 }).collect();
    let img = Image::from_vec(w, h, 1, data).unwrap();
    let chain = OpChain::parse("contrast-stretch", &[]).unwrap();
    let expected = chain.apply_reference(&img).unwrap();
    for ranks in 1..=16 {
        assert_eq!(run_in_process(&chain, &img, ranks, false).unwrap(), expected, "{ranks} ranks");
    }
}

#[test]
fn chains_with_global_steps_in_the_middle_match() {
    let img = picture(57, 83, 3, 7);
    for spec in [
        "gray,gaussian,canny",
        "canny,blur:ksize=7",
        "contrast-stretch,median,canny,bilateral",
        "canny:low=10:high=30,canny",
    ] {
        let chain = OpChain::parse(spec, &[]).unwrap();
        for ranks in [1, 2, 3, 5, 16] {
            check(&chain, &img, ranks, false).unwrap();
            check(&chain, &img, ranks, true).unwrap();
            check_chunked(&chain, &img, ranks, false, 57 * 3 * 4).unwrap();
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// A resize anywhere in a chain, any size, scale and interpolation: the plan (strips up to it,
    /// the whole image through cv::resize on rank 0, strips again after it) gives the bytes of the
    /// chain on the whole image, for any rank count.
    #[test]
    fn a_resize_anywhere_in_a_chain_keeps_split_images_exact(
        w in 1usize..60, h in 1usize..80, colour in any::<bool>(), seed in any::<u64>(),
        before in prop::collection::vec(op_strategy(), 0..2), after in prop::collection::vec(op_strategy(), 0..2),
        width in 0u32..90, height in 0u32..90, scale in 0.05f64..4.0, keep in any::<bool>(),
        interpolation in 0u32..5, ranks in 1usize..9, skip in any::<bool>(),
    ) {
        let resize = Op::Resize { width, height, scale, keep_aspect: keep, interpolation };
        let chain = OpChain(before.into_iter().chain(std::iter::once(resize)).chain(after).collect());
        let img = picture(w, h, if colour { 3 } else { 1 }, seed);
        let want_size = chain.out_size(w, h);
        let got = run_in_process(&chain, &img, ranks, skip).unwrap();
        prop_assert_eq!((got.width, got.height), want_size);
        check(&chain, &img, ranks, skip)?;
    }
}
