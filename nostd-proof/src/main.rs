//! Host-side proof that `trustmark-verifier` (with the `ring` backend) and `trustmark-format`
//! need nothing from std.
//!
//! This binary is `#![no_std]` and `#![no_main]`: it brings its own `#[panic_handler]`, its own
//! global allocator (libc `malloc`, counting live and peak bytes) and its own C `main`. If any
//! dependency linked std, std's `panic_impl` lang item would collide with the handler below and
//! the build would fail; `--features negative-control` shows that it does (see `run.sh`).
//!
//! It then runs one real decision on the committed vectors (`spec/vectors/files/`): verify the
//! trust list under the root key, verify the typical mark, and report the heap high-water of
//! that decision; a mark with a flipped signature byte must fail with `bad_signature`, and the
//! mark checked 400 days later must fail as expired. Exit status 0 only if all of that held.
//!
//! This is the one crate in the project allowed `unsafe` code: the allocator, libc calls and the
//! C entry point cannot be written without it.
#![no_std]
#![no_main]
#![deny(unused_crate_dependencies)]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

extern crate alloc;

use alloc::vec::Vec;
use core::ffi::{c_char, c_int};
use core::fmt::{self, Write};

use trustmark_format::{Algorithm, UnixTime};
use trustmark_verifier::{verify, Policy, TrustAnchor, TrustStore, VerifyError, RING};

/// The typical mark (a tagged `COSE_Sign1` token) from the committed vectors.
const TOKEN: &[u8] = include_bytes!("../../spec/vectors/files/typical-mark.cbor");
/// The root-signed trust list that names the mark's issuer.
const TRUST_LIST: &[u8] = include_bytes!("../../spec/vectors/files/trust-list.cbor");
/// The scheme root's raw Ed25519 public key; the array type rejects a file of the wrong length
/// at compile time.
const ROOT_KEY: &[u8; 32] = include_bytes!("../../spec/vectors/files/root-ed25519.pub");
/// The verification time the vectors were made for, parsed at compile time.
const NOW: u64 = parse_unix_time(include_bytes!("../../spec/vectors/files/time.txt"));
/// Far enough after `NOW` to be past the typical mark's expiry.
const LATER: u64 = NOW + 400 * 86_400;

/// Parses `time.txt`: decimal digits, then optional trailing whitespace. Any other content fails
/// the build (this runs in const evaluation).
const fn parse_unix_time(text: &[u8]) -> u64 {
    let mut value: u64 = 0;
    let mut i = 0;
    while i < text.len() && text[i].is_ascii_digit() {
        // Overflow here is a compile-time error, which is what a bad fixture deserves.
        value = value * 10 + (text[i] - b'0') as u64;
        i += 1;
    }
    assert!(i > 0, "time.txt must start with a decimal Unix time");
    while i < text.len() {
        assert!(
            text[i].is_ascii_whitespace(),
            "time.txt: unexpected content after the time"
        );
        i += 1;
    }
    value
}

/// The C entry point (`#![no_main]`: the C runtime calls this, not Rust's `lang_start`).
#[no_mangle]
pub extern "C" fn main(_argc: c_int, _argv: *const *const c_char) -> c_int {
    let mut out = Output { ok: true };
    let held = run(&mut out);
    if held && out.ok {
        0
    } else {
        1
    }
}

/// Runs the three checks; true only if every one held.
fn run(out: &mut Output) -> bool {
    let now = UnixTime(NOW);
    // The anchor is configuration a device holds before any decision, so it is allocated before
    // the measurement starts.
    let anchor = TrustAnchor {
        alg: Algorithm::EdDsa,
        public_key: ROOT_KEY.to_vec(),
    };
    let policy = Policy::default();

    // (a) One whole decision: verify the trust list under the root, then the mark.
    let measurement = heap::Measurement::start();
    let decision = TrustStore::from_signed(TRUST_LIST, &anchor, now, &RING)
        .and_then(|trust| verify(TOKEN, &trust, &policy, now).map(|mark| (trust, mark)));
    let stats = measurement.finish();
    let (trust, mark) = match decision {
        Ok(decision) => decision,
        Err(e) => {
            out.line(format_args!("no_std verify: FAILED: {} ({e})", e.code()));
            return false;
        }
    };
    let mut held = true;
    out.line(format_args!("no_std verify: ok"));
    out.line(format_args!(
        "mark: {} {} (kid {} bytes), expires at {}",
        mark.claims().vendor,
        mark.claims().model,
        mark.kid().len(),
        mark.claims().expires_at.0
    ));
    out.line(format_args!(
        "heap high-water (trust list + mark): {} bytes",
        stats.high_water
    ));
    out.line(format_args!("heap allocations: {}", stats.allocations));
    out.line(format_args!("heap reallocations: {}", stats.reallocations));
    out.line(format_args!(
        "heap still held after the decision (trust store + verified mark): {} bytes",
        stats.retained
    ));

    // (b) The same mark with its last byte (the end of the signature) flipped.
    let mut tampered: Vec<u8> = TOKEN.to_vec();
    let Some(last) = tampered.last_mut() else {
        out.line(format_args!(
            "tampered mark: FAILED: the typical mark is empty"
        ));
        return false;
    };
    *last ^= 0x01;
    held &= expect_error(
        out,
        "tampered mark",
        verify(&tampered, &trust, &policy, now),
        &["bad_signature"],
    );

    // (c) The genuine mark, checked 400 days later.
    held &= expect_error(
        out,
        "mark 400 days later",
        verify(TOKEN, &trust, &policy, UnixTime(LATER)),
        &["expired", "trust_list_expired"],
    );

    out.line(format_args!(
        "no_std proof: {}",
        if held { "all checks held" } else { "FAILED" }
    ));
    held
}

/// Reports a check that must be refused with one of `codes`; true if it was.
fn expect_error<T>(
    out: &mut Output,
    what: &str,
    result: Result<T, VerifyError>,
    codes: &[&str],
) -> bool {
    match result {
        Err(e) if codes.contains(&e.code()) => {
            out.line(format_args!("{what}: refused as expected: {}", e.code()));
            true
        }
        Err(e) => {
            out.line(format_args!(
                "{what}: FAILED: refused with {} ({e}), expected one of {codes:?}",
                e.code()
            ));
            false
        }
        Ok(_) => {
            out.line(format_args!(
                "{what}: FAILED: accepted, expected one of {codes:?}"
            ));
            false
        }
    }
}

/// Standard output through `libc::write`. A line that cannot be written fully makes the run
/// fail rather than be silently lost.
struct Output {
    ok: bool,
}

impl Output {
    fn line(&mut self, args: fmt::Arguments<'_>) {
        let mut line = LineBuffer::new();
        let formatted = line.write_fmt(args).is_ok() && line.write_str("\n").is_ok();
        if !formatted {
            line.mark_truncated();
        }
        self.ok &= formatted && write_all(libc::STDOUT_FILENO, line.as_bytes());
    }
}

/// A fixed stack buffer for one formatted line: no allocation, so printing cannot disturb the
/// heap figures.
struct LineBuffer {
    bytes: [u8; 256],
    len: usize,
}

impl LineBuffer {
    const fn new() -> Self {
        Self {
            bytes: [0; 256],
            len: 0,
        }
    }

    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// Ends the buffer with "...\n" so that a cut-off line is visible as such.
    fn mark_truncated(&mut self) {
        const MARK: &[u8] = b"...\n";
        self.len = self.len.min(self.bytes.len() - MARK.len());
        self.bytes[self.len..self.len + MARK.len()].copy_from_slice(MARK);
        self.len += MARK.len();
    }
}

impl Write for LineBuffer {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = self.bytes.len() - self.len;
        let n = s.len().min(room);
        self.bytes[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        if n == s.len() {
            Ok(())
        } else {
            Err(fmt::Error)
        }
    }
}

/// Writes all of `bytes` to `fd`, retrying short writes and `EINTR`; false on any other error.
fn write_all(fd: c_int, mut bytes: &[u8]) -> bool {
    while !bytes.is_empty() {
        // SAFETY: `bytes` is a live slice, so its pointer is valid for reads of `bytes.len()`
        // bytes for the duration of the call; `write` does not keep the pointer.
        let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
        if n > 0 {
            // `write` never reports more than it was given, so `n <= bytes.len()`.
            bytes = &bytes[n.unsigned_abs().min(bytes.len())..];
        } else if n == 0 || errno() != libc::EINTR {
            return false;
        }
    }
    true
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn errno() -> c_int {
    // SAFETY: `__errno_location` returns a valid pointer to this thread's `errno`.
    unsafe { *libc::__errno_location() }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn errno() -> c_int {
    // SAFETY: `__error` returns a valid pointer to this thread's `errno` (macOS and the BSDs).
    unsafe { *libc::__error() }
}

/// Without std there is no unwinding and no panic output: print the message to stderr and abort
/// (both profiles set `panic = "abort"`). With std linked as well, this item collides with std's
/// own `panic_impl`: that collision is the proof.
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let mut line = LineBuffer::new();
    if writeln!(line, "trustmark-nostd-proof: {info}").is_err() {
        line.mark_truncated();
    }
    // Nothing useful can be done if stderr is gone: abort regardless.
    let _ = write_all(libc::STDERR_FILENO, line.as_bytes());
    // SAFETY: `abort` has no preconditions; it ends the process without returning.
    unsafe { libc::abort() }
}

/// Link-time stand-ins for the unwinder. The host's precompiled `core` and `alloc` are built with
/// `panic = "unwind"`, so their landing pads name `rust_eh_personality` (defined by std's
/// `panic_unwind`) and `_Unwind_Resume` (libgcc). Nothing here can unwind: the panic handler
/// aborts, both profiles set `panic = "abort"`, and no C++ is linked. So both are only link-time
/// references; if either were ever called it would mean an unwind started, and aborting is the
/// only correct response. A bare-metal target (core built with `panic = "abort"`) needs neither.
mod unwind_stubs {
    /// The personality routine the precompiled `alloc`'s unwind tables point at.
    #[no_mangle]
    extern "C" fn rust_eh_personality() -> ! {
        // SAFETY: `abort` has no preconditions; it ends the process without returning.
        unsafe { libc::abort() }
    }

    /// The unwinder entry the precompiled `alloc`'s landing pads end with.
    #[no_mangle]
    extern "C" fn _Unwind_Resume() -> ! {
        // SAFETY: `abort` has no preconditions; it ends the process without returning.
        unsafe { libc::abort() }
    }
}

/// The global allocator: libc `malloc`, counting bytes and calls.
mod heap {
    use core::alloc::{GlobalAlloc, Layout};
    use core::ptr;
    use core::sync::atomic::{AtomicUsize, Ordering};

    /// The alignment `malloc` guarantees for every allocation of at least that size: 16 bytes
    /// on 64-bit glibc and musl targets (`x86_64`, `aarch64`), 8 on 32-bit ones (the same rule as
    /// std's `MIN_ALIGN`).
    #[cfg(target_pointer_width = "64")]
    const MIN_ALIGN: usize = 16;
    #[cfg(not(target_pointer_width = "64"))]
    const MIN_ALIGN: usize = 8;

    /// Bytes currently allocated through this allocator.
    static CURRENT: AtomicUsize = AtomicUsize::new(0);
    /// Highest `CURRENT` since the last `Measurement::start`.
    static PEAK: AtomicUsize = AtomicUsize::new(0);
    /// Calls to `alloc` and `alloc_zeroed`.
    static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
    /// Calls to `realloc`.
    static REALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

    // The program is single-threaded; `Relaxed` still keeps each counter exact if it were not.
    fn grow(bytes: usize) {
        let now = CURRENT.fetch_add(bytes, Ordering::Relaxed) + bytes;
        PEAK.fetch_max(now, Ordering::Relaxed);
    }

    fn shrink(bytes: usize) {
        CURRENT.fetch_sub(bytes, Ordering::Relaxed);
    }

    /// Whether plain `malloc`/`realloc` give the alignment `layout` needs.
    fn malloc_aligns(align: usize, size: usize) -> bool {
        align <= MIN_ALIGN && align <= size
    }

    /// Allocates without counting. Null on failure.
    ///
    /// # Safety
    /// `layout` has a non-zero size (the `GlobalAlloc::alloc` contract).
    unsafe fn raw_alloc(layout: Layout) -> *mut u8 {
        if malloc_aligns(layout.align(), layout.size()) {
            // SAFETY: `malloc` accepts any size; the caller guarantees it is non-zero.
            unsafe { libc::malloc(layout.size()).cast() }
        } else {
            // `posix_memalign` wants a power of two that is a multiple of the pointer size;
            // `Layout` guarantees the power of two, and the `max` the multiple.
            let align = layout.align().max(core::mem::size_of::<usize>());
            let mut out: *mut libc::c_void = ptr::null_mut();
            // SAFETY: `out` is a valid place for the result; `align` meets the requirements
            // above. On failure `out` is left untouched (null).
            let status = unsafe { libc::posix_memalign(&raw mut out, align, layout.size()) };
            if status == 0 {
                out.cast()
            } else {
                ptr::null_mut()
            }
        }
    }

    /// The figures of one measured stretch of the program.
    #[derive(Debug, Clone, Copy)]
    pub(crate) struct Stats {
        /// Peak bytes allocated above what was live at the start.
        pub(crate) high_water: usize,
        /// Bytes allocated above the start that are still live at the end.
        pub(crate) retained: usize,
        /// Fresh allocations made.
        pub(crate) allocations: usize,
        /// Reallocations made.
        pub(crate) reallocations: usize,
    }

    /// A measurement in progress: reset the peak to what is live now, and note the counters.
    pub(crate) struct Measurement {
        baseline: usize,
        allocations: usize,
        reallocations: usize,
    }

    impl Measurement {
        pub(crate) fn start() -> Self {
            let baseline = CURRENT.load(Ordering::Relaxed);
            PEAK.store(baseline, Ordering::Relaxed);
            Self {
                baseline,
                allocations: ALLOCATIONS.load(Ordering::Relaxed),
                reallocations: REALLOCATIONS.load(Ordering::Relaxed),
            }
        }

        pub(crate) fn finish(self) -> Stats {
            Stats {
                high_water: PEAK.load(Ordering::Relaxed).saturating_sub(self.baseline),
                retained: CURRENT
                    .load(Ordering::Relaxed)
                    .saturating_sub(self.baseline),
                allocations: ALLOCATIONS.load(Ordering::Relaxed) - self.allocations,
                reallocations: REALLOCATIONS.load(Ordering::Relaxed) - self.reallocations,
            }
        }
    }

    struct CountingMalloc;

    #[global_allocator]
    static ALLOCATOR: CountingMalloc = CountingMalloc;

    // SAFETY: every method returns null or a block of at least `layout.size()` bytes aligned to
    // `layout.align()` (`malloc_aligns` picks `malloc`/`realloc` only when they guarantee the
    // alignment, `posix_memalign` otherwise), and frees only blocks this allocator returned.
    unsafe impl GlobalAlloc for CountingMalloc {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            // SAFETY: `GlobalAlloc::alloc` callers guarantee a non-zero size.
            let p = unsafe { raw_alloc(layout) };
            if !p.is_null() {
                ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
                grow(layout.size());
            }
            p
        }

        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            let p = if malloc_aligns(layout.align(), layout.size()) {
                // SAFETY: `calloc` accepts any count and size; it zeroes the block itself.
                unsafe { libc::calloc(1, layout.size()).cast() }
            } else {
                // SAFETY: the caller guarantees a non-zero size.
                let p: *mut u8 = unsafe { raw_alloc(layout) };
                if !p.is_null() {
                    // SAFETY: `p` is a fresh block of `layout.size()` writable bytes.
                    unsafe { ptr::write_bytes(p, 0, layout.size()) };
                }
                p
            };
            if !p.is_null() {
                ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
                grow(layout.size());
            }
            p
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: the caller guarantees `ptr` came from this allocator, so from `malloc`,
            // `calloc`, `realloc` or `posix_memalign`, all of which `free` releases.
            unsafe { libc::free(ptr.cast()) };
            shrink(layout.size());
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            let new = if malloc_aligns(layout.align(), new_size) {
                // SAFETY: `ptr` came from this allocator (caller's guarantee) and `realloc`
                // keeps `malloc`'s alignment, which suffices for `layout.align()` here.
                let p: *mut u8 = unsafe { libc::realloc(ptr.cast(), new_size).cast() };
                if !p.is_null() {
                    // Counted as the net change in live bytes (as heap profilers such as dhat
                    // do): whether libc moved the block, briefly holding both, is its business.
                    if new_size >= layout.size() {
                        grow(new_size - layout.size());
                    } else {
                        shrink(layout.size() - new_size);
                    }
                }
                p
            } else {
                // `realloc` might not keep an alignment above `MIN_ALIGN`: move by hand.
                // SAFETY: the caller guarantees `new_size`, rounded up to `layout.align()`, does
                // not overflow and is non-zero, so this layout is valid.
                let new_layout =
                    unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
                // SAFETY: `new_layout` has a non-zero size.
                let p = unsafe { raw_alloc(new_layout) };
                if !p.is_null() {
                    // Both blocks are live for a moment: count the peak that way.
                    grow(new_size);
                    // SAFETY: `ptr` is valid for `layout.size()` bytes, `p` for `new_size`, and
                    // they are distinct blocks.
                    unsafe { ptr::copy_nonoverlapping(ptr, p, layout.size().min(new_size)) };
                    // SAFETY: `ptr` came from this allocator and is not used after this.
                    unsafe { libc::free(ptr.cast()) };
                    shrink(layout.size());
                }
                p
            };
            if !new.is_null() {
                REALLOCATIONS.fetch_add(1, Ordering::Relaxed);
            }
            new
        }
    }
}
