//! The MPI wire: sending and receiving the messages of `messages` between ranks, point to
//! point, never a collective, so a cancel can interrupt any step. A payload is received with a
//! blocking call only once its header has arrived, when the receive is a copy, not a wait.

use super::messages::Command;
use super::messages::TAG_COMMAND;
use super::wait::{resting_wait, Backoff, BUSY_WAIT};
use mpi::point_to_point::MatchedReceiveVec;
use mpi::request::{Request, Scope};
use mpi::topology::{Process, SimpleCommunicator};
use mpi::traits::*;
use mpi::Tag;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Largest piece of a buffer sent in one MPI message.
const CHUNK: usize = 1 << 30;

/// Waits for a non-blocking request without spinning.
pub fn wait<'a, D: ?Sized, S: Scope<'a>>(mut request: Request<'a, D, S>) {
    let mut backoff = Backoff::new(BUSY_WAIT);
    loop {
        match request.test() {
            Ok(_) => return,
            Err(r) => request = r,
        }
        backoff.pause();
    }
}

/// Sends a buffer of any size as consecutive chunks; the receiver must know its length. Returns
/// once the buffer may be reused, sleeping (not spinning) while the receiver is busy.
pub fn send_bytes(to: &Process<'_>, tag: Tag, bytes: &[u8]) {
    for chunk in bytes.chunks(CHUNK) {
        mpi::request::scope(|scope| wait(to.immediate_send_with_tag(scope, chunk, tag)));
    }
}

/// Sends `bytes` as [`send_bytes`] does, running `meanwhile` while the transfer is under way
/// (rank 0 decodes the next rows while a worker takes these), and returns its result once the
/// buffer may be reused.
pub fn send_bytes_while<R>(to: &Process<'_>, tag: Tag, bytes: &[u8], meanwhile: impl FnOnce() -> R) -> R {
    if bytes.len() > CHUNK {
        let result = meanwhile();
        send_bytes(to, tag, bytes);
        return result;
    }
    mpi::request::scope(|scope| {
        let request = to.immediate_send_with_tag(scope, bytes, tag);
        let result = meanwhile();
        wait(request);
        result
    })
}

/// Serialises `value` as JSON and sends it (see [`send_bytes`]).
pub fn send_json<T: Serialize>(to: &Process<'_>, tag: Tag, value: &T) {
    let bytes = serde_json::to_vec(value).expect("protocol messages always serialise");
    mpi::request::scope(|scope| wait(to.immediate_send_with_tag(scope, &bytes[..], tag)));
}

/// Whether a message with `tag` from `from` has arrived (and can be received at once).
pub fn has_message(from: &Process<'_>, tag: Tag) -> bool {
    from.immediate_probe_with_tag(tag).is_some()
}

/// Receives a buffer sent by [`send_bytes`] into `buf`, whose length must match. Waits for each
/// chunk without spinning, then copies it.
pub fn receive_bytes(from: &Process<'_>, tag: Tag, buf: &mut [u8]) {
    for chunk in buf.chunks_mut(CHUNK) {
        let mut backoff = Backoff::new(BUSY_WAIT);
        while from.immediate_probe_with_tag(tag).is_none() {
            backoff.pause();
        }
        from.receive_into_with_tag(chunk, tag);
    }
}

/// The sizes of the messages [`send_bytes`] makes of `total` bytes sent `part` bytes a call, in
/// order: what a receiver that takes them one at a time ([`try_receive_bytes`]) expects.
pub fn message_sizes(total: usize, part: usize) -> Vec<usize> {
    let part = part.max(1);
    (0..total)
        .step_by(part)
        .flat_map(|at| {
            let len = part.min(total - at);
            (0..len).step_by(CHUNK).map(move |off| CHUNK.min(len - off))
        })
        .collect()
}

/// Receives one message sent by [`send_bytes`] into a buffer from `buffer` (of the message's
/// length) if it has arrived; `None` at once otherwise (the caller does something else and asks
/// again).
pub fn try_receive_bytes<B: std::ops::DerefMut<Target = [u8]>>(
    from: &Process<'_>,
    tag: Tag,
    buffer: impl FnOnce() -> B,
) -> Option<B> {
    from.immediate_probe_with_tag(tag)?;
    let mut buf = buffer();
    from.receive_into_with_tag(&mut buf[..], tag);
    Some(buf)
}

/// Receives a buffer sent by [`send_bytes`] like [`receive_bytes`], but gives up when `abort`
/// says so between polls (the sender failed or the job was cancelled); false when it gave up.
pub fn receive_bytes_unless(from: &Process<'_>, tag: Tag, buf: &mut [u8], abort: &mut dyn FnMut() -> bool) -> bool {
    for chunk in buf.chunks_mut(CHUNK) {
        let mut backoff = Backoff::new(BUSY_WAIT);
        while from.immediate_probe_with_tag(tag).is_none() {
            if abort() {
                return false;
            }
            backoff.pause();
        }
        from.receive_into_with_tag(chunk, tag);
    }
    true
}

/// A JSON message that has arrived: decodes it and names the sender.
fn decode<T: DeserializeOwned>(bytes: &[u8], tag: Tag, from: i32) -> anyhow::Result<T> {
    serde_json::from_slice(bytes).map_err(|e| anyhow::anyhow!("malformed message with tag {tag} from rank {from}: {e}"))
}

/// Receives one JSON message from `from` (any rank when `None`) if one is waiting.
pub fn try_receive_json<T: DeserializeOwned>(
    world: &SimpleCommunicator,
    from: Option<i32>,
    tag: Tag,
) -> anyhow::Result<Option<(T, i32)>> {
    let probed = match from {
        Some(r) => world.process_at_rank(r).immediate_matched_probe_with_tag(tag),
        None => world.any_process().immediate_matched_probe_with_tag(tag),
    };
    let Some(probed) = probed else { return Ok(None) };
    let (bytes, status) = probed.matched_receive_vec::<u8>();
    Ok(Some((decode(&bytes, tag, status.source_rank())?, status.source_rank())))
}

/// Waits (sleeping, see [`Backoff`]) for one JSON message from `from` (any rank when `None`).
/// `between_polls` runs while nothing has arrived: rank 0 uses it to pass on a cancel.
pub fn receive_json<T: DeserializeOwned>(
    world: &SimpleCommunicator,
    from: Option<i32>,
    tag: Tag,
    between_polls: &mut dyn FnMut(),
) -> anyhow::Result<(T, i32)> {
    let mut backoff = Backoff::new(BUSY_WAIT);
    loop {
        if let Some(got) = try_receive_json(world, from, tag)? {
            return Ok(got);
        }
        between_polls();
        backoff.pause();
    }
}

/// Rank 0 → one worker.
pub fn send_command(world: &SimpleCommunicator, rank: usize, command: &Command) {
    send_json(&world.process_at_rank(rank as i32), TAG_COMMAND, command);
}

/// A worker waits for rank 0's next command, sleeping between polls up to
/// [`resting_wait`]`(since its last job ended at `last_job`)`; `between_polls` runs while
/// nothing has arrived (the worker reads cancels there).
pub fn receive_command(
    world: &SimpleCommunicator,
    last_job: std::time::Instant,
    between_polls: &mut dyn FnMut(),
) -> anyhow::Result<Command> {
    let mut backoff = Backoff::new(resting_wait(last_job.elapsed()));
    loop {
        if let Some((command, _)) = try_receive_json(world, Some(0), TAG_COMMAND)? {
            return Ok(command);
        }
        between_polls();
        backoff.set_max(resting_wait(last_job.elapsed()));
        backoff.pause();
    }
}

/// This process's host name as MPI reports it.
pub fn host_name() -> String {
    mpi::environment::processor_name().unwrap_or_else(|_| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_sizes_follow_the_parts_and_add_up() {
        assert_eq!(message_sizes(10, 4), vec![4, 4, 2]);
        assert_eq!(message_sizes(8, 4), vec![4, 4]);
        assert_eq!(message_sizes(0, 4), Vec::<usize>::new());
        assert_eq!(message_sizes(3, 0), vec![1, 1, 1]);
        let big = message_sizes(2 * CHUNK + 5, 3 * CHUNK);
        assert_eq!(big, vec![CHUNK, CHUNK, 5]);
    }
}
