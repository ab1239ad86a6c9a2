//! Standard output for the command-line tools, where it may be a pipe whose reader has gone.
//!
//! Rust starts programs with `SIGPIPE` ignored, so a write to a closed pipe fails with
//! [`ErrorKind::BrokenPipe`] instead of ending the process, and `println!` panics on that error
//! ("failed printing to stdout: Broken pipe", with a backtrace): `trustmark-issuer frameworks
//! show iotsf-icaf --json | head -1` did so. Restoring the default signal handler would take
//! `unsafe` (`libc::signal`), which our crates forbid. The tools print through [`print_line`]
//! instead, which ends the output quietly when the reader has gone and lets the command finish
//! with the exit status it decided (`trustmark-verify`'s 0 valid or 1 invalid).
//!
//! Why here: `trustmark-verify`, `trustmark-issuer` and the `gen-vectors` test generator all
//! depend on this crate with `std`, so one function serves the three binaries without a copy in
//! each (their `#![deny(clippy::print_stdout)]` keeps `println!` out of them).

use core::fmt::Display;
use core::sync::atomic::{AtomicBool, Ordering};
use std::io::{ErrorKind, Write};

/// Set once a write found the reader gone. A pipe never reopens, and stdout is one per process,
/// so the flag is too.
static READER_GONE: AtomicBool = AtomicBool::new(false);

/// Writes `text` and a newline to stdout, and flushes.
///
/// If the reader of stdout has gone (the write fails with [`ErrorKind::BrokenPipe`]), this call
/// and every later one print nothing and return `Ok`: the output ends quietly and the command
/// goes on to its own exit status. Any other write error (a full disk, say) is returned.
pub fn print_line(text: impl Display) -> std::io::Result<()> {
    if READER_GONE.load(Ordering::Relaxed) {
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Err(e) if e.kind() == ErrorKind::BrokenPipe => {
            READER_GONE.store(true, Ordering::Relaxed);
            Ok(())
        }
        other => other,
    }
}
