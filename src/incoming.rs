//! A strip's input rows that are still arriving while it computes.
//!
//! Rank 0 streams a worker's rows as it decodes them. Rather than wait for the last row before
//! filtering the first, the worker's MPI thread hands each message to the strip's compute thread
//! as it lands ([`Sender`]), and the strip filters each chunk of rows once the rows it reads are
//! in ([`Feed::fill`]). MPI calls stay on the MPI thread (an Open MPI communicator cannot move to
//! another thread); this module only carries bytes between the two threads.

use crate::exec::Cancelled;
use anyhow::{bail, ensure, Result};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

/// How often a strip waiting for rows looks at its cancel flag.
const CANCEL_POLL: Duration = Duration::from_millis(5);

/// The MPI thread's end: each message's bytes, in the order they fill the strip.
pub type Sender = mpsc::Sender<Vec<u8>>;

/// A channel from the thread that receives a strip's rows to the strip that reads them.
pub fn channel() -> (Sender, Feed) {
    let (tx, rx) = mpsc::channel();
    (tx, Feed { chunks: rx, filled: 0 })
}

/// The compute thread's end: copies arrived bytes into the strip's input buffer as far as asked.
pub struct Feed {
    chunks: mpsc::Receiver<Vec<u8>>,
    /// Bytes of the input buffer filled so far, from its start.
    filled: usize,
}

impl Feed {
    /// Waits until the first `bytes` bytes of `data` hold the strip's input, copying messages in
    /// as they come (never writing before what is already filled). Stops with [`Cancelled`] once
    /// `cancel` is set, and fails when the sender goes away before the rows are complete.
    pub fn fill(&mut self, data: &mut [u8], bytes: usize, cancel: &AtomicBool) -> Result<()> {
        ensure!(bytes <= data.len(), "{bytes} input bytes asked of a strip of {}", data.len());
        while self.filled < bytes {
            match self.chunks.recv_timeout(CANCEL_POLL) {
                Ok(chunk) => {
                    let end = self.filled + chunk.len();
                    ensure!(end <= data.len(), "{} bytes of rows arrived for a strip of {} bytes", end, data.len());
                    data[self.filled..end].copy_from_slice(&chunk);
                    self.filled = end;
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if cancel.load(Ordering::Relaxed) {
                        return Err(Cancelled.into());
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    if cancel.load(Ordering::Relaxed) {
                        return Err(Cancelled.into());
                    }
                    bail!("the strip's rows stopped arriving after {} of {} bytes", self.filled, data.len())
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_copies_messages_in_order_up_to_what_is_asked() {
        let (tx, mut feed) = channel();
        let cancel = AtomicBool::new(false);
        let mut data = vec![0u8; 10];
        let sender = std::thread::spawn(move || {
            for part in [vec![1, 2, 3], vec![4, 5, 6, 7], vec![8, 9, 10]] {
                std::thread::sleep(Duration::from_millis(10));
                tx.send(part).unwrap();
            }
        });
        feed.fill(&mut data, 5, &cancel).unwrap();
        assert_eq!(data[..7], [1, 2, 3, 4, 5, 6, 7], "whole messages are copied");
        assert_eq!(data[7..], [0, 0, 0], "nothing past what arrived");
        feed.fill(&mut data, 10, &cancel).unwrap();
        assert_eq!(data, (1..=10).collect::<Vec<u8>>());
        sender.join().unwrap();
    }

    #[test]
    fn a_cancel_stops_the_wait_and_a_missing_sender_is_an_error() {
        let (tx, mut feed) = channel();
        let cancel = AtomicBool::new(true);
        let mut data = vec![0u8; 4];
        let err = feed.fill(&mut data, 4, &cancel).unwrap_err();
        assert!(err.is::<Cancelled>());
        tx.send(vec![1, 2]).unwrap();
        drop(tx);
        cancel.store(false, Ordering::Relaxed);
        let err = feed.fill(&mut data, 4, &cancel).unwrap_err();
        assert!(format!("{err}").contains("after 2 of 4 bytes"), "{err}");
    }

    #[test]
    fn more_bytes_than_the_strip_holds_is_an_error_not_a_panic() {
        let (tx, mut feed) = channel();
        tx.send(vec![0; 6]).unwrap();
        let err = feed.fill(&mut [0u8; 4], 4, &AtomicBool::new(false)).unwrap_err();
        assert!(format!("{err}").contains("6 bytes of rows arrived for a strip of 4"), "{err}");
    }
}
