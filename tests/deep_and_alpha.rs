//! 16-bit and RGBA files under real `mpirun -np 3`: kept where every op of the chain takes them
//! (and the output format holds them), dropped with a warning where one does not, and in both
//! cases equal, pixel for pixel once decoded, to the one-process reference (`run --reference`,
//! which reads the file unchanged too).

mod common;

use common::*;
use imgproc::codec;
use imgproc::image::{Depth, Image, Keep};
use imgproc::synth;
use std::path::Path;

/// A picture with samples over the whole 16-bit range: the synthetic photo's 8-bit values widened,
/// plus noise in the low byte so a filter that worked on 8 bits would show.
fn deep_picture(w: usize, h: usize, channels: usize, seed: u64) -> Image {
    let base = synth::picture(w, h, channels.min(3), seed);
    let mut data = Vec::with_capacity(w * h * channels * 2);
    for (i, px) in base.data.chunks_exact(base.channels).enumerate() {
        for c in 0..channels {
            let v = px.get(c).copied().unwrap_or((i % 251) as u8); // alpha: a ramp
            let sample = (u16::from(v) << 8) | ((i * 31 + c * 7) % 256) as u16;
            data.extend(sample.to_ne_bytes());
        }
    }
    Image::from_vec_as(w, h, channels, Depth::U16, data).unwrap()
}

/// An 8-bit BGRA picture with an alpha ramp.
fn rgba_picture(w: usize, h: usize, seed: u64) -> Image {
    let base = synth::picture(w, h, 3, seed);
    let data = base.data.chunks_exact(3).enumerate().flat_map(|(i, p)| [p[0], p[1], p[2], (i % 256) as u8]).collect();
    Image::from_vec(w, h, 4, data).unwrap()
}

fn write(path: &Path, img: &Image) {
    std::fs::write(path, codec::encode(img, "png").unwrap()).unwrap();
}

fn read(path: &Path) -> Image {
    codec::read_image_keeping(path, u64::MAX, Keep::ALL).unwrap()
}

/// Runs `chain` on `input` on 3 ranks and in one process; both outputs must decode to the same
/// pixels, of `depth` and `channels`. Returns the distributed run's stderr.
fn same_as_reference(chain: &str, input: &Path, depth: Depth, channels: usize) -> String {
    let dir = input.parent().unwrap();
    let (out, expected) = (dir.join("out.png"), dir.join("expected.png"));
    reference(chain, input, &expected);
    let run = mpirun(3, &["run", "--op", chain, s(input), "-o", s(&out)]);
    assert_ok(&run, chain);
    let (got, want) = (read(&out), read(&expected));
    assert_eq!((want.depth, want.channels), (depth, channels), "{chain} on {}: the reference", input.display());
    assert!(got == want, "{chain} on {} at 3 ranks differs from one process: {got:?} vs {want:?}", input.display());
    stderr(&run)
}

#[test]
fn a_16_bit_png_keeps_its_depth_through_every_chain_that_takes_it_equal_to_one_process() {
    let dir = tempfile::tempdir().unwrap();
    for (name, channels) in [("gray16.png", 1), ("colour16.png", 3)] {
        let input = dir.path().join(name);
        write(&input, &deep_picture(97, 61, channels, 5));
        assert_eq!(read(&input).depth, Depth::U16, "the input is 16-bit");
        for chain in
            ["gaussian:ksize=5,invert", "blur:ksize=3,median:ksize=5", "median:ksize=3,resize:scale=0.7", "gray"]
        {
            let out_channels = if chain == "gray" { 1 } else { channels };
            let err = same_as_reference(chain, &input, Depth::U16, out_channels);
            assert!(!err.contains("warning"), "nothing is lost, nothing to warn of: {err}");
        }
    }
}

#[test]
fn an_rgba_png_keeps_its_alpha_through_filters_and_resize_equal_to_one_process() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("rgba.png");
    write(&input, &rgba_picture(83, 57, 6));
    assert_eq!(read(&input).channels, 4, "the input has alpha");
    for chain in ["gaussian,median:ksize=7", "blur:ksize=4,resize:width=40"] {
        same_as_reference(chain, &input, Depth::U8, 4);
    }
    // 16-bit with alpha too.
    let input = dir.path().join("rgba16.png");
    write(&input, &deep_picture(61, 41, 4, 7));
    same_as_reference("gaussian:ksize=3,resize:scale=0.5", &input, Depth::U16, 4);
}

#[test]
fn a_chain_that_cannot_take_them_drops_depth_and_alpha_with_a_warning_equal_to_one_process() {
    let dir = tempfile::tempdir().unwrap();
    let deep = dir.path().join("deep.png");
    write(&deep, &deep_picture(70, 50, 3, 8));
    let err = same_as_reference("gaussian,bilateral:d=5", &deep, Depth::U8, 3);
    assert!(
        err.contains(
            "deep.png is 16-bit colour: its 16-bit samples become 8-bit (the top 8 bits): bilateral takes 8-bit only"
        ),
        "{err}"
    );
    // The dropped samples are the top 8 bits: the reduced input through the same chain.
    let reduced = read(&deep).reduced(Keep::NONE);
    let chain = imgproc::chain::OpChain::parse("gaussian,bilateral:d=5", &[]).unwrap();
    assert!(read(&dir.path().join("out.png")) == chain.apply_reference(&reduced).unwrap());

    let rgba = dir.path().join("rgba.png");
    write(&rgba, &rgba_picture(70, 50, 9));
    let err = same_as_reference("blur,invert", &rgba, Depth::U8, 3);
    assert!(err.contains("its alpha channel is dropped: invert takes no alpha"), "{err}");
    let err = same_as_reference("gray,canny", &deep, Depth::U8, 1);
    assert!(err.contains("canny takes 8-bit only"), "{err}");

    // An output format that cannot hold 16 bits drops them too, and says so.
    let out = dir.path().join("out.jpg");
    let run = mpirun(3, &["run", "--op", "blur", s(&deep), "-o", s(&out)]);
    assert_ok(&run, "blur into a JPEG");
    assert!(stderr(&run).contains("the output format holds no such samples"), "{}", stderr(&run));
}
