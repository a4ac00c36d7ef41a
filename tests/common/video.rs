//! Test videos and their frames: made with ffmpeg, decoded as OpenCV decodes them, compared
//! with each input frame through the chain in one process.
#![allow(dead_code)] // each test file uses its own subset

use imgproc::chain::OpChain;
use imgproc::image::Image;
use imgproc::video::chunk::decode_all;
use std::path::Path;
use std::process::Command;

/// A 320×240 test video of `secs` seconds at 25 fps, a keyframe every 12 frames, B-frames, and a
/// sine as AAC audio when `audio`.
pub fn make_video(path: &Path, secs: u32, audio: bool) {
    make_video_with(path, secs, audio, &["-g", "12"]);
}

/// [`make_video`] with one keyframe every `gop` frames and none on scene changes.
pub fn make_video_gop(path: &Path, secs: u32, gop: u32) {
    let x264 = format!("keyint={gop}:min-keyint={gop}:scenecut=0");
    make_video_with(path, secs, false, &["-x264-params", &x264]);
}

fn make_video_with(path: &Path, secs: u32, audio: bool, keyframes: &[&str]) {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi"])
        .arg("-i")
        .arg(format!("testsrc2=size=320x240:rate=25:duration={secs}"));
    if audio {
        cmd.args(["-f", "lavfi", "-i", &format!("sine=frequency=440:duration={secs}"), "-c:a", "aac"]);
    }
    cmd.args(["-c:v", "libx264"]).args(keyframes).args(["-bf", "2", "-pix_fmt", "yuv420p", "-shortest"]).arg(path);
    assert!(cmd.status().unwrap().success(), "ffmpeg made the test video");
}

/// Every frame of a video as OpenCV decodes it, in order.
pub fn frames_of(path: &Path) -> Vec<Image> {
    let mut all = Vec::new();
    decode_all(path, |_, img| {
        all.push(img);
        Ok(())
    })
    .unwrap();
    all
}

/// The one-process result: each input frame through the chain.
pub fn expected(op: &str, frames: &[Image]) -> Vec<Image> {
    let chain = OpChain::parse(op, &[]).unwrap();
    frames.iter().map(|f| chain.apply_reference(f).unwrap()).collect()
}

/// A decoded lossless frame (always BGR) equals a filtered one (gray results are stored gray).
pub fn same(decoded: &Image, want: &Image) -> bool {
    if want.channels == 1 {
        decoded.width == want.width
            && decoded.height == want.height
            && decoded.data.chunks(3).zip(&want.data).all(|(bgr, &g)| bgr == [g, g, g])
    } else {
        decoded == want
    }
}

pub fn assert_frames(got: &[Image], want: &[Image], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: frame count");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(same(g, w), "{what}: frame {} differs from the one-process result", i + 1);
    }
}
