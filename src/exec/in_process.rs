//! The distributed algorithm in one process: every strip of an image taken through its chain
//! in turn, with rank 0's part of each global step done by plain calls. What the GUI's preview,
//! batch items and video frames run (one strip), and what the tests check the MPI layer against.

use super::strip::{Step, StripRun, CHUNK_BYTES};
use crate::cancel::CancelFlag;
use crate::chain::{OpChain, Stage};
use crate::global::{self, HysteresisRequest};
use crate::image::Image;
use crate::split::plan;
use anyhow::{bail, ensure, Result};

/// The whole chain on a whole image in this thread, in chunks of rows, stopping at the next chunk
/// once `cancel` is set. Byte for byte [`OpChain::apply_reference`] (one strip is a strip like
/// any other), but with OpenCV's working memory kept to a chunk and a cancel that takes effect.
pub fn run_whole(chain: &OpChain, img: &Image, cancel: &CancelFlag) -> Result<Image> {
    run_strips(chain, img, 1, false, CHUNK_BYTES, Some(cancel))
}

/// Runs a chain as `ranks` strips in one process, doing the global steps by hand: the distributed
/// algorithm without MPI, for tests and for checking the MPI layer against.
pub fn run_in_process(chain: &OpChain, img: &Image, ranks: usize, skip_rank0: bool) -> Result<Image> {
    run_in_process_chunked(chain, img, ranks, skip_rank0, CHUNK_BYTES)
}

/// [`run_in_process`] with every strip working in chunks of about `chunk_bytes` of input rows.
pub fn run_in_process_chunked(
    chain: &OpChain,
    img: &Image,
    ranks: usize,
    skip_rank0: bool,
    chunk_bytes: usize,
) -> Result<Image> {
    run_strips(chain, img, ranks, skip_rank0, chunk_bytes, None)
}

fn run_strips(
    chain: &OpChain,
    img: &Image,
    ranks: usize,
    skip_rank0: bool,
    chunk_bytes: usize,
    cancel: Option<&CancelFlag>,
) -> Result<Image> {
    if chain.has_whole_image_steps() {
        // The plan rank 0 follows too (`Master::run_image`): strips up to each resize, the whole
        // image through it, strips again after it.
        let mut cur = img.clone();
        for stage in chain.stages() {
            cur = match stage {
                Stage::Strips(part) => run_strips(&part, &cur, ranks, skip_rank0, chunk_bytes, cancel)?,
                Stage::Whole(op) => {
                    if let Some(c) = cancel {
                        StripRun::check_cancel(c)?;
                    }
                    op.apply_reference(&cur)?
                }
            };
        }
        return Ok(cur);
    }
    let strips = plan(img.height, ranks, chain.total_halo(), skip_rank0);
    let runs = strips
        .iter()
        .map(|s| {
            StripRun::new(
                chain.clone(),
                img.height,
                s.owned.clone(),
                img.crop_rows(s.input.start, s.input.end),
                s.input.clone(),
            )
            .and_then(|run| if strips.len() == 1 { run.alone() } else { Ok(run) })
            .map(|run| {
                let run = run.with_chunk_bytes(chunk_bytes);
                match cancel {
                    Some(c) => run.with_cancel(c.clone()),
                    None => run,
                }
            })
        })
        .collect::<Result<Vec<_>>>()?;
    drive_in_process(runs, img, chain.out_channels(img.channels))
}

/// Takes every strip of one image through its chain in turn, doing rank 0's part at each global
/// step; the strips' owned rows must tile `img`'s. Returns the joined result.
fn drive_in_process(mut runs: Vec<StripRun>, img: &Image, out_channels: usize) -> Result<Image> {
    loop {
        let steps = runs.iter_mut().map(StripRun::advance).collect::<Result<Vec<_>>>()?;
        match &steps[0] {
            Step::Done(_) => {
                let mut out = Image::zeros_as(img.width, 0, out_channels, img.depth);
                for step in steps {
                    let Step::Done(part) = step else { bail!("strips disagree about the chain") };
                    // Rank 0 grows its part, even an empty one, into the output: shapes must agree.
                    ensure!(
                        (part.width, part.channels) == (out.width, out.channels),
                        "a strip of {} rows came out {}x{} channel(s), not {}x{}",
                        part.height,
                        part.width,
                        part.channels,
                        out.width,
                        out.channels
                    );
                    out.data.extend_from_slice(&part.data);
                    out.height += part.height;
                }
                return Ok(out);
            }
            Step::Histogram(_) => {
                let mut total = [0u64; 256];
                for step in &steps {
                    let Step::Histogram(h) = step else { bail!("strips disagree about the chain") };
                    total.iter_mut().zip(h.iter()).for_each(|(t, v)| *t += v);
                }
                runs.iter_mut().try_for_each(|r| r.resume_histogram(&total))?;
            }
            Step::Hysteresis(_) => {
                let reqs: Vec<HysteresisRequest> = steps
                    .into_iter()
                    .map(|s| match s {
                        Step::Hysteresis(r) => Ok(r),
                        _ => bail!("strips disagree about the chain"),
                    })
                    .collect::<Result<_>>()?;
                let replies = global::resolve_hysteresis(&reqs, img.width, img.height)?;
                for (r, reply) in runs.iter_mut().zip(replies) {
                    r.resume_hysteresis(reply)?;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::strip::tests::send_slowly;
    use crate::synth::picture;

    /// Strips of a split job, each fed its rows while it computes: split Canny finds its
    /// candidates chunk by chunk as rows arrive, and must wait for each chunk's halo.
    #[test]
    fn fed_strips_of_a_split_job_give_the_whole_images_rows() {
        let img = picture(41, 97, 3, 11);
        for chain in
            ["canny", "canny:low=20:high=60", "canny:aperture=5:low=200:high=600:l2=true", "gaussian,canny,blur"]
        {
            let chain = OpChain::parse(chain, &[]).unwrap();
            let expected = run_whole(&chain, &img, &CancelFlag::default()).unwrap();
            for ranks in [2, 3] {
                let mut senders = vec![];
                let runs = plan(img.height, ranks, chain.total_halo(), false)
                    .into_iter()
                    .map(|s| {
                        let (sender, feed) = send_slowly(&img.crop_rows(s.input.start, s.input.end), &[41 * 3 + 7]);
                        senders.push(sender);
                        let buffer = Image::zeros(img.width, s.input.len(), img.channels);
                        let run = StripRun::new(chain.clone(), img.height, s.owned, buffer, s.input).unwrap();
                        run.with_chunk_bytes(41 * 3 * 6).with_feed(feed)
                    })
                    .collect();
                let got = drive_in_process(runs, &img, chain.out_channels(img.channels)).unwrap();
                senders.into_iter().for_each(|s| s.join().unwrap());
                assert!(got.data == expected.data, "{chain:?} on {ranks} strips");
            }
        }
    }
}
