//! Ranks ≥ 1: introduce themselves, then wait for commands from rank 0 and do their share.
//!
//! A worker never panics on bad input and never leaves rank 0 waiting: every failure travels back
//! as a message (a failed strip still takes part in each global step, see `exec::drive`), and the
//! loop only ends on `Shutdown`.

use crate::batch::{self, BatchItem};
use crate::exec::{drive, DriveTimes, GlobalExchange, StripRun};
use crate::global::{HysteresisReply, HysteresisRequest};
use crate::image::Image;
use crate::master::cores;
use crate::protocol::*;
use anyhow::Result;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;
use std::time::Instant;

/// Serves rank 0 until it says `Shutdown`.
pub fn serve(world: &SimpleCommunicator) -> Result<()> {
    let rank = world.rank() as usize;
    let root = world.process_at_rank(0);
    send_json(&root, TAG_HELLO, &RankInfo { rank, host: host_name(), cores: cores() });
    loop {
        match broadcast_command(world, None)? {
            Command::Image(job) => image_job(world, &job),
            Command::Batch(job) => batch_job(world, &job)?,
            Command::Shutdown => return Ok(()),
        }
    }
}

fn image_job(world: &SimpleCommunicator, job: &ImageJob) {
    let rank = world.rank() as usize;
    let root = world.process_at_rank(0);
    let strip = &job.strips[rank];
    let mut stats =
        RankStats { rank, host: host_name(), rows: Some((strip.owned.start, strip.owned.end)), ..Default::default() };

    let started = Instant::now();
    let mut input = vec![0u8; strip.input.len() * job.width * job.channels];
    if !input.is_empty() {
        receive_bytes(&root, TAG_STRIP, &mut input);
    }
    stats.bytes_received = input.len() as u64;
    stats.send_secs = started.elapsed().as_secs_f64();

    let run = Image::from_vec(job.width, strip.input.len(), job.channels, input)
        .and_then(|img| StripRun::new(job.chain.clone(), job.height, strip.owned.clone(), img, strip.input.clone()));
    let mut times = DriveTimes::default();
    let result = drive(&job.chain, run, &mut WorkerExchange { world }, &mut times);
    (stats.compute_secs, stats.global_secs) = (times.compute_secs, times.global_secs);

    match result {
        Ok(rows) => {
            stats.bytes_sent = rows.byte_len() as u64;
            send_json(&root, TAG_RESULT, &StripResult { error: None, stats: stats.clone() });
            if rows.byte_len() > 0 {
                send_bytes(&root, TAG_RESULT_ROWS, &rows.data);
            }
        }
        Err(e) => send_json(&root, TAG_RESULT, &StripResult { error: Some(e.to_string()), stats }),
    }
}

/// A worker's side of the global steps: contribute, then wait for rank 0's answer.
struct WorkerExchange<'a> {
    world: &'a SimpleCommunicator,
}

impl GlobalExchange for WorkerExchange<'_> {
    fn histogram(&mut self, local: Option<&[u64; 256]>) -> Result<Option<[u64; 256]>> {
        Ok(all_reduce_histogram(self.world, local))
    }

    fn hysteresis(&mut self, local: Option<HysteresisRequest>) -> Result<Option<HysteresisReply>> {
        send_json(&self.world.process_at_rank(0), TAG_HYSTERESIS, &local);
        Ok(receive_json::<Option<HysteresisReply>>(self.world, Some(0), TAG_HYSTERESIS)?.0)
    }
}

fn batch_job(world: &SimpleCommunicator, job: &BatchJob) -> Result<()> {
    let rank = world.rank() as usize;
    let root = world.process_at_rank(0);
    let mut stats = RankStats { rank, host: host_name(), ..Default::default() };
    loop {
        let started = Instant::now();
        let (down, _) = receive_json::<BatchDown>(world, Some(0), TAG_BATCH_DOWN)?;
        let BatchDown::Work { index, input, output, format, bytes } = down else {
            send_json(&root, TAG_BATCH_UP, &BatchUp::Stats(stats));
            return Ok(());
        };
        let encoded_input = bytes.map(|len| {
            let mut buf = vec![0u8; len];
            receive_bytes(&root, TAG_BATCH_DOWN_BYTES, &mut buf);
            buf
        });
        stats.send_secs += started.elapsed().as_secs_f64();
        stats.bytes_received += bytes.unwrap_or(0) as u64;

        let started = Instant::now();
        let mut io = batch::FileTimes::default();
        let result = match &encoded_input {
            Some(b) => {
                batch::process_bytes(b, &input.display().to_string(), &job.chain, job.max_pixels, &format).map(Some)
            }
            None => {
                let item = BatchItem { input, output, format };
                batch::process_file(&item, &job.chain, job.max_pixels).map(|t| {
                    io = t;
                    None
                })
            }
        };
        let secs = started.elapsed().as_secs_f64();
        stats.read_secs += io.read_secs;
        stats.write_secs += io.write_secs;
        stats.compute_secs += secs - io.read_secs - io.write_secs;
        stats.images += 1;

        let started = Instant::now();
        match result {
            Ok(out) => {
                let up = BatchUp::Done { index, result: Ok(out.as_ref().map(|e| e.len())), secs };
                send_json(&root, TAG_BATCH_UP, &up);
                if let Some(out) = out {
                    send_bytes(&root, TAG_BATCH_UP_BYTES, &out);
                    stats.bytes_sent += out.len() as u64;
                }
            }
            Err(e) => send_json(&root, TAG_BATCH_UP, &BatchUp::Done { index, result: Err(format!("{e:#}")), secs }),
        }
        stats.collect_secs += started.elapsed().as_secs_f64();
    }
}
