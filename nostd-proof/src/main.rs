//! Host-side proof that `trustmark-verifier` and `trustmark-format` need nothing from std, with
//! the crypto backend that a cargo feature selects: `backend-ring` (default) or
//! `backend-rustcrypto` (pure Rust: no C code, no getrandom); with both, it runs once per backend.
//!
//! This binary is `#![no_std]` and `#![no_main]`: it brings its own `#[panic_handler]`, its own
//! global allocator (libc `malloc`, counting live and peak bytes) and its own C `main`. If any
//! dependency linked std, std's `panic_impl` lang item would collide with the handler below and
//! the build would fail; `--features negative-control` shows that it does (see `run.sh`).
//!
//! It then runs a gateway's whole decision on the committed vectors (`spec/vectors/files/`):
//! verify the trust list under the root key, the issuer's status list under the trust list, and
//! the typical mark with its status under a gateway policy (firmware digest, minimum class, a
//! status list required and at most a day old), and reports the heap of that decision. Then it
//! checks refusals: the revoked mark (`revoked`), a flipped signature byte in the mark
//! (`bad_signature`) and in the status list (`status_list_signature`), no status list
//! (`status_missing`), the list past the policy's age (`status_list_stale`), and the mark 400
//! days later (`expired`). Exit status 0 only if all of that held for every backend.
//!
//! This is the one crate in the project allowed `unsafe` code: the allocator, libc calls and the
//! C entry point cannot be written without it.
#![no_std]
#![no_main]
#![deny(unused_crate_dependencies)]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

extern crate alloc;

#[cfg(not(any(feature = "backend-ring", feature = "backend-rustcrypto")))]
compile_error!("select a crypto backend: feature `backend-ring` or `backend-rustcrypto`");

use alloc::vec::Vec;
use core::ffi::{c_char, c_int};
use core::fmt::{self, Write};

use trustmark_format::status_list::{lookup, window_len};
use trustmark_format::{Algorithm, FrameworkId, StatusListClaims, StatusListToken, UnixTime};
use trustmark_verifier::{
    verify, verify_status_list, verify_with_status, FrameworkRequirement, Policy,
    SignatureVerifier, TrustAnchor, TrustStore, VerifyError,
};

/// The crypto backends this build was made with, by name.
static BACKENDS: &[(&str, &dyn SignatureVerifier)] = &[
    #[cfg(feature = "backend-ring")]
    ("ring", &trustmark_verifier::RING),
    #[cfg(feature = "backend-rustcrypto")]
    ("rustcrypto", &trustmark_verifier::RUST_CRYPTO),
];

/// The typical mark (a tagged `COSE_Sign1` token) from the committed vectors: status index
/// 2^20 - 1, VALID in the status list.
const TOKEN: &[u8] = include_bytes!("../../spec/vectors/files/typical-mark.cbor");
/// The typical mark's claims with a status index that the status list marks INVALID.
const REVOKED_TOKEN: &[u8] = include_bytes!("../../spec/vectors/files/revoked-mark.cbor");
/// The root-signed trust list that names the mark's issuer, with its status list URI.
const TRUST_LIST: &[u8] = include_bytes!("../../spec/vectors/files/trust-list.cbor");
/// The issuer's signed status list (2^20 entries at 2 bits, zlib with a 4 KiB window).
const STATUS_LIST: &[u8] = include_bytes!("../../spec/vectors/files/status-list.cwt");
/// The scheme root's raw Ed25519 public key; the array type rejects a file of the wrong length
/// at compile time.
const ROOT_KEY: &[u8; 32] = include_bytes!("../../spec/vectors/files/root-ed25519.pub");
/// The verification time the vectors were made for, parsed at compile time.
const NOW: u64 = parse_unix_time(include_bytes!("../../spec/vectors/files/time.txt"));
/// Far enough after `NOW` to be past the typical mark's expiry.
const LATER: u64 = NOW + 400 * 86_400;
/// The gateway policy's oldest acceptable status list: one day.
const MAX_STATUS_AGE: u64 = 86_400;
/// The product's heap target for one decision.
const HEAP_TARGET: usize = 16 * 1024;

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
    let mut held = true;
    for (name, crypto) in BACKENDS {
        held &= run(&mut out, name, *crypto);
    }
    if held && out.ok {
        0
    } else {
        1
    }
}

/// The gateway's configuration: the root key and the policy. Allocated before a measurement
/// starts, as a device holds them before any decision.
fn configuration() -> (TrustAnchor, Policy) {
    let anchor = TrustAnchor {
        alg: Algorithm::EdDsa,
        public_key: ROOT_KEY.to_vec(),
    };
    let policy = Policy {
        firmware_sha256: Some([0x9f; 32]),
        frameworks: alloc::vec![FrameworkRequirement {
            framework: FrameworkId::IOTSF_ICAF,
            min_class: 2,
            min_release: None,
            min_assurance: None,
        }],
        require_status: true,
        max_status_age: Some(MAX_STATUS_AGE),
        ..Policy::default()
    };
    (anchor, policy)
}

/// Runs the decision and the refusals with one backend; true only if every check held.
fn run(out: &mut Output, backend: &str, crypto: &'static dyn SignatureVerifier) -> bool {
    let now = UnixTime(NOW);
    let (anchor, policy) = configuration();
    out.line(format_args!("== backend: {backend}"));

    // (a) One whole decision: the trust list under the root, the status list under the trust
    //     list, then the mark with its status. Each phase's peak is above the decision's start.
    let mut measurement = heap::Measurement::start();
    let trust = TrustStore::from_signed(TRUST_LIST, &anchor, now, crypto);
    let trust_phase = measurement.phase();
    let list = trust
        .as_ref()
        .map_err(Clone::clone)
        .and_then(|trust| verify_status_list(STATUS_LIST, trust, &policy, now));
    let list_phase = measurement.phase();
    let mark = match (&trust, &list) {
        (Ok(trust), Ok(list)) => verify_with_status(TOKEN, trust, Some(list), &policy, now),
        (Err(e), _) | (_, Err(e)) => Err(e.clone()),
    };
    let mark_phase = measurement.phase();
    let stats = measurement.finish();
    let (trust, list, mark) = match (trust, list, mark) {
        (Ok(trust), Ok(list), Ok(mark)) => (trust, list, mark),
        (Err(e), ..) | (_, Err(e), _) | (.., Err(e)) => {
            out.line(format_args!("no_std decision: FAILED: {} ({e})", e.code()));
            return false;
        }
    };
    let mut held = true;
    out.line(format_args!("no_std decision: ok"));
    out.line(format_args!(
        "trust list: {} issuers; status list: {} entries, issued at {}",
        trust.list().issuers.len(),
        list.len(),
        list.issued_at().0
    ));
    out.line(format_args!(
        "mark: {} {} (kid {} bytes), status index {} valid as of {}",
        mark.claims().vendor,
        mark.claims().model,
        mark.kid().len(),
        mark.claims().status_index,
        mark.status_as_of().map_or(0, |t| t.0)
    ));
    held &= report_heap(out, &stats, [trust_phase, list_phase, mark_phase]);

    // The inflater alone: one streaming lookup of the mark's entry, the list already decoded.
    let inflation = StatusListToken::parse_signed(STATUS_LIST)
        .and_then(|sign1| StatusListClaims::from_cbor(sign1.payload()))
        .map(|claims| (window_len(claims.list.compressed()), claims.list.to_cbor()));
    match inflation {
        Ok((window, cbor)) => {
            let measurement = heap::Measurement::start();
            let value = lookup(&cbor, mark.claims().status_index as usize);
            let alone = measurement.finish();
            held &= value == Ok(0);
            out.line(format_args!(
                "status list inflation alone (streaming lookup, {}-byte window + decompressor \
                 state): {} bytes in {} allocations",
                window.unwrap_or(0),
                alone.high_water,
                alone.allocations
            ));
        }
        Err(e) => {
            out.line(format_args!("status list inflation: FAILED: {e}"));
            held = false;
        }
    }

    // (b) Refusals, each with the exact error.
    held &= expect_error(
        out,
        "revoked mark",
        verify_with_status(REVOKED_TOKEN, &trust, Some(&list), &policy, now),
        &["revoked"],
    );
    let Some(tampered) = flip_last_byte(TOKEN) else {
        out.line(format_args!("tampered mark: FAILED: the mark is empty"));
        return false;
    };
    held &= expect_error(
        out,
        "tampered mark",
        verify_with_status(&tampered, &trust, Some(&list), &policy, now),
        &["bad_signature"],
    );
    let Some(tampered_list) = flip_last_byte(STATUS_LIST) else {
        out.line(format_args!(
            "tampered status list: FAILED: the list is empty"
        ));
        return false;
    };
    held &= expect_error(
        out,
        "tampered status list",
        verify_status_list(&tampered_list, &trust, &policy, now),
        &["status_list_signature"],
    );
    held &= expect_error(
        out,
        "mark without a status list",
        verify(TOKEN, &trust, &policy, now),
        &["status_missing"],
    );
    let stale = UnixTime(list.issued_at().0 + MAX_STATUS_AGE + 1);
    held &= expect_error(
        out,
        "status list older than the policy allows",
        verify_with_status(TOKEN, &trust, Some(&list), &policy, stale),
        &["status_list_stale"],
    );
    held &= expect_error(
        out,
        "mark 400 days later",
        verify_with_status(TOKEN, &trust, Some(&list), &policy, UnixTime(LATER)),
        &["expired", "trust_list_expired"],
    );

    out.line(format_args!(
        "no_std proof ({backend}): {}",
        if held { "all checks held" } else { "FAILED" }
    ));
    held
}

/// A copy of `bytes` with its last byte (for a COSE_Sign1: the end of the signature) flipped.
fn flip_last_byte(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut copy = bytes.to_vec();
    *copy.last_mut()? ^= 0x01;
    Some(copy)
}

/// Prints the decision's heap figures; false if the run's own accounting does not add up.
fn report_heap(out: &mut Output, stats: &heap::Stats, phases: [heap::Stats; 3]) -> bool {
    let [trust, list, mark] = phases;
    let verdict = if stats.high_water <= HEAP_TARGET {
        "within"
    } else {
        "over"
    };
    out.line(format_args!(
        "heap high-water, whole decision (trust list + status list + mark): {} bytes ({verdict} \
         the {HEAP_TARGET}-byte target)",
        stats.high_water
    ));
    out.line(format_args!(
        "  by phase: trust list {}, status list {}, mark with status {}",
        trust.high_water, list.high_water, mark.high_water
    ));
    out.line(format_args!(
        "  without the status list inflater's blocks ({}+ bytes): {} bytes",
        heap::LARGE_BLOCK,
        stats.small_high_water
    ));
    out.line(format_args!(
        "heap allocations: {} (plus {} reallocations), of which {} of {}+ bytes",
        stats.allocations,
        stats.reallocations,
        stats.large_allocations,
        heap::LARGE_BLOCK
    ));
    out.line(format_args!(
        "heap still held after the decision (trust store + status list + verified mark): {} \
         bytes",
        stats.retained
    ));
    // The decision's peak is its largest phase's peak.
    stats.high_water == trust.high_water.max(list.high_water).max(mark.high_water)
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

    /// Blocks of at least this many bytes are counted apart: in one decision the only such
    /// blocks are the status list inflater's, its 4 KiB window (the fixture's `windowBits` 12)
    /// and its boxed decompressor state (10,504 bytes on x86-64), so the "small" figures are the
    /// decision's heap without the inflater. The count of large blocks shows that it holds.
    pub(crate) const LARGE_BLOCK: usize = 4096;

    /// Bytes currently allocated through this allocator.
    static CURRENT: AtomicUsize = AtomicUsize::new(0);
    /// Highest `CURRENT` since the last reset (`Measurement::start` or `phase`).
    static PEAK: AtomicUsize = AtomicUsize::new(0);
    /// Bytes currently allocated in blocks smaller than `LARGE_BLOCK`.
    static SMALL_CURRENT: AtomicUsize = AtomicUsize::new(0);
    /// Highest `SMALL_CURRENT` since the last reset.
    static SMALL_PEAK: AtomicUsize = AtomicUsize::new(0);
    /// Calls to `alloc` and `alloc_zeroed`.
    static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
    /// Of those, blocks of at least `LARGE_BLOCK` bytes.
    static LARGE_ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
    /// Calls to `realloc`.
    static REALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

    // The program is single-threaded; `Relaxed` still keeps each counter exact if it were not.
    /// A block of `bytes` became live.
    fn add(bytes: usize) {
        let now = CURRENT.fetch_add(bytes, Ordering::Relaxed) + bytes;
        PEAK.fetch_max(now, Ordering::Relaxed);
        if bytes < LARGE_BLOCK {
            let now = SMALL_CURRENT.fetch_add(bytes, Ordering::Relaxed) + bytes;
            SMALL_PEAK.fetch_max(now, Ordering::Relaxed);
        }
    }

    /// A block of `bytes` was freed.
    fn remove(bytes: usize) {
        CURRENT.fetch_sub(bytes, Ordering::Relaxed);
        if bytes < LARGE_BLOCK {
            SMALL_CURRENT.fetch_sub(bytes, Ordering::Relaxed);
        }
    }

    /// A fresh allocation of `bytes` succeeded.
    fn count_allocation(bytes: usize) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        if bytes >= LARGE_BLOCK {
            LARGE_ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        add(bytes);
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
    #[derive(Debug, Clone, Copy, Default)]
    pub(crate) struct Stats {
        /// Peak bytes allocated above what was live when the measurement started.
        pub(crate) high_water: usize,
        /// The same, counting only blocks smaller than `LARGE_BLOCK`.
        pub(crate) small_high_water: usize,
        /// Bytes allocated above the start that are still live at the end.
        pub(crate) retained: usize,
        /// Fresh allocations made.
        pub(crate) allocations: usize,
        /// Of those, blocks of at least `LARGE_BLOCK` bytes.
        pub(crate) large_allocations: usize,
        /// Reallocations made.
        pub(crate) reallocations: usize,
    }

    /// The counters at one moment.
    #[derive(Clone, Copy)]
    struct Counts {
        allocations: usize,
        large_allocations: usize,
        reallocations: usize,
    }

    impl Counts {
        fn now() -> Self {
            Self {
                allocations: ALLOCATIONS.load(Ordering::Relaxed),
                large_allocations: LARGE_ALLOCATIONS.load(Ordering::Relaxed),
                reallocations: REALLOCATIONS.load(Ordering::Relaxed),
            }
        }
    }

    /// Starts a new peak at what is live now.
    fn reset_peaks() {
        PEAK.store(CURRENT.load(Ordering::Relaxed), Ordering::Relaxed);
        SMALL_PEAK.store(SMALL_CURRENT.load(Ordering::Relaxed), Ordering::Relaxed);
    }

    /// A measurement in progress, split into phases: peaks are above what was live at its
    /// start; counts are per phase, and for the whole in `finish`.
    pub(crate) struct Measurement {
        baseline: usize,
        small_baseline: usize,
        start: Counts,
        phase_start: Counts,
        /// The highest peaks of the phases ended so far.
        high_water: usize,
        small_high_water: usize,
    }

    impl Measurement {
        pub(crate) fn start() -> Self {
            reset_peaks();
            let counts = Counts::now();
            Self {
                baseline: CURRENT.load(Ordering::Relaxed),
                small_baseline: SMALL_CURRENT.load(Ordering::Relaxed),
                start: counts,
                phase_start: counts,
                high_water: 0,
                small_high_water: 0,
            }
        }

        /// The figures since `since` (peaks since the last reset), above the start.
        fn stats(&self, since: Counts) -> Stats {
            let now = Counts::now();
            Stats {
                high_water: PEAK.load(Ordering::Relaxed).saturating_sub(self.baseline),
                small_high_water: SMALL_PEAK
                    .load(Ordering::Relaxed)
                    .saturating_sub(self.small_baseline),
                retained: CURRENT
                    .load(Ordering::Relaxed)
                    .saturating_sub(self.baseline),
                allocations: now.allocations - since.allocations,
                large_allocations: now.large_allocations - since.large_allocations,
                reallocations: now.reallocations - since.reallocations,
            }
        }

        /// Ends a phase: its figures, and a new peak for the next one.
        pub(crate) fn phase(&mut self) -> Stats {
            let stats = self.stats(self.phase_start);
            self.high_water = self.high_water.max(stats.high_water);
            self.small_high_water = self.small_high_water.max(stats.small_high_water);
            self.phase_start = Counts::now();
            reset_peaks();
            stats
        }

        /// The figures of the whole measurement.
        pub(crate) fn finish(self) -> Stats {
            let last = self.stats(self.start);
            Stats {
                high_water: last.high_water.max(self.high_water),
                small_high_water: last.small_high_water.max(self.small_high_water),
                ..last
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
                count_allocation(layout.size());
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
                count_allocation(layout.size());
            }
            p
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: the caller guarantees `ptr` came from this allocator, so from `malloc`,
            // `calloc`, `realloc` or `posix_memalign`, all of which `free` releases.
            unsafe { libc::free(ptr.cast()) };
            remove(layout.size());
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            let new = if malloc_aligns(layout.align(), new_size) {
                // SAFETY: `ptr` came from this allocator (caller's guarantee) and `realloc`
                // keeps `malloc`'s alignment, which suffices for `layout.align()` here.
                let p: *mut u8 = unsafe { libc::realloc(ptr.cast(), new_size).cast() };
                if !p.is_null() {
                    // Counted as the net change in live bytes (as heap profilers such as dhat
                    // do): whether libc moved the block, briefly holding both, is its business.
                    remove(layout.size());
                    add(new_size);
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
                    add(new_size);
                    // SAFETY: `ptr` is valid for `layout.size()` bytes, `p` for `new_size`, and
                    // they are distinct blocks.
                    unsafe { ptr::copy_nonoverlapping(ptr, p, layout.size().min(new_size)) };
                    // SAFETY: `ptr` came from this allocator and is not used after this.
                    unsafe { libc::free(ptr.cast()) };
                    remove(layout.size());
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
