//! A strip's input rows that are still arriving while it computes.
//!
//! Rank 0 streams a worker's rows as it decodes them. Rather than wait for the last row before
//! filtering the first, the worker's MPI thread hands each message to the strip's compute thread
//! as it lands ([`Sender`]), and the strip filters each chunk of rows once the rows it reads are
//! in ([`ArrivingRows::fill`]). MPI calls stay on the MPI thread (an Open MPI communicator
//! cannot move to another thread); this module only carries bytes between the two threads.
//!
//! A strip that filters slower than rank 0 decodes (bilateral) has many messages waiting at once.
//! Each lives in memory of its own from the system ([`Message`]) and goes back to it once
//! copied: glibc's allocator would keep that memory resident after the strip has taken the
//! rows in (after the first large free it serves 4 MB blocks from its heap and keeps them), and
//! the waiting messages would count twice against the rank's memory bound.

use crate::cancel::{Cancelled, CANCEL_POLL};
use anyhow::{bail, ensure, Result};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

/// The MPI thread's end: each message's bytes, in the order they fill the strip.
pub type Sender = mpsc::Sender<Message>;

/// One message's bytes in an anonymous mapping of their own, unmapped when dropped.
pub struct Message {
    ptr: *mut u8,
    len: usize,
}

// SAFETY: a Message owns its mapping outright (no other pointer to it exists), like a Vec<u8>.
unsafe impl Send for Message {}

impl Message {
    /// `len` zero bytes. Aborts when the system has no memory, as a `Vec` would.
    pub fn zeroed(len: usize) -> Message {
        if len == 0 {
            return Message { ptr: std::ptr::NonNull::dangling().as_ptr(), len };
        }
        // SAFETY: a fresh private anonymous mapping; its result is checked before use.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            std::alloc::handle_alloc_error(std::alloc::Layout::array::<u8>(len).expect("a message fits in memory"));
        }
        Message { ptr: ptr.cast(), len }
    }
}

impl std::ops::Deref for Message {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: `ptr` is valid for `len` bytes (mapped, or dangling for 0) while self lives.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl std::ops::DerefMut for Message {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as for Deref, and `&mut self` makes this the only reference.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
}

impl Drop for Message {
    fn drop(&mut self) {
        if self.len > 0 {
            // SAFETY: the mapping made in `zeroed`, unmapped once.
            unsafe { libc::munmap(self.ptr.cast(), self.len) };
        }
    }
}

/// A channel from the thread that receives a strip's rows to the strip that reads them.
pub fn channel() -> (Sender, ArrivingRows) {
    let (tx, rx) = mpsc::channel();
    (tx, ArrivingRows { chunks: rx, filled: 0 })
}

/// The compute thread's end: copies arrived bytes into the strip's input buffer as far as asked.
pub struct ArrivingRows {
    chunks: mpsc::Receiver<Message>,
    /// Bytes of the input buffer filled so far, from its start.
    filled: usize,
}

impl ArrivingRows {
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
    use std::time::Duration;

    fn message(bytes: &[u8]) -> Message {
        let mut m = Message::zeroed(bytes.len());
        m.copy_from_slice(bytes);
        m
    }

    #[test]
    fn a_message_starts_zeroed_holds_what_is_written_and_may_be_empty() {
        let mut m = Message::zeroed(5000);
        assert!(m.iter().all(|&b| b == 0));
        m[4999] = 7;
        assert_eq!((m.len(), m[4999]), (5000, 7));
        assert!(Message::zeroed(0).is_empty());
    }

    #[test]
    fn fill_copies_messages_in_order_up_to_what_is_asked() {
        let (tx, mut feed) = channel();
        let cancel = AtomicBool::new(false);
        let mut data = vec![0u8; 10];
        let sender = std::thread::spawn(move || {
            for part in [&[1, 2, 3][..], &[4, 5, 6, 7], &[8, 9, 10]] {
                std::thread::sleep(Duration::from_millis(10));
                tx.send(message(part)).unwrap();
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
        tx.send(message(&[1, 2])).unwrap();
        drop(tx);
        cancel.store(false, Ordering::Relaxed);
        let err = feed.fill(&mut data, 4, &cancel).unwrap_err();
        assert!(format!("{err}").contains("after 2 of 4 bytes"), "{err}");
    }

    #[test]
    fn more_bytes_than_the_strip_holds_is_an_error_not_a_panic() {
        let (tx, mut feed) = channel();
        tx.send(Message::zeroed(6)).unwrap();
        let err = feed.fill(&mut [0u8; 4], 4, &AtomicBool::new(false)).unwrap_err();
        assert!(format!("{err}").contains("6 bytes of rows arrived for a strip of 4"), "{err}");
    }
}
