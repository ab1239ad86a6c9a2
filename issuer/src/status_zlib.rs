//! zlib for status lists: level 9 with a 4 KiB window, compressed in chunks that are reused.
//!
//! The output is one ordinary zlib stream (RFC 1950) that any inflater reads, with a 4 KiB
//! window declared in its header (`spec/status-list.md`). Inside, the bits are cut into chunks
//! of [`CHUNK`] bytes, as pigz does: each chunk is deflated on its own with the 4 KiB before it
//! as preset dictionary (so back-references still reach across the cut) and ends on a byte
//! boundary (a sync flush), so the chunks' outputs simply concatenate. That makes two things
//! possible:
//!
//! - **reuse**: [`ChunkedZlib`] keeps each chunk's input and output; after a status change only
//!   the chunk holding it (and the next one, if the change is in its dictionary) is compressed
//!   again: a quarter of the work for a list of 2^20 entries;
//! - **parallelism**: chunks that must be compressed are spread over the machine's cores.
//!
//! The cost is one empty stored block and one new Huffman block per cut: on the brief's list
//! (2^20 entries, 1% revoked) 4 chunks give 128 bytes more than one whole-stream deflate.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Chunk size in bytes of packed bits (2^18 entries of 2 bits).
pub const CHUNK: usize = 64 * 1024;

/// Base-2 logarithm of the DEFLATE window: 4 KiB.
pub const WINDOW_BITS: u8 = 12;

const WINDOW: usize = 1 << WINDOW_BITS;

/// zlib failed (it does not for these parameters: level 9, 4 KiB window, output grown as
/// needed; the error is kept rather than hidden).
#[derive(Debug, thiserror::Error)]
#[error("zlib: {0}")]
pub struct CompressError(String);

/// A chunk compressed earlier: its dictionary and bytes, whether it ended the stream, and the
/// raw DEFLATE it gave.
#[derive(Debug, Clone, Default)]
struct Chunk {
    dictionary_len: usize,
    input: Vec<u8>,
    last: bool,
    output: Vec<u8>,
}

/// What one chunk must be: a view into the bits being compressed.
struct Job<'a> {
    dictionary: &'a [u8],
    data: &'a [u8],
    last: bool,
}

impl Chunk {
    fn matches(&self, job: &Job<'_>) -> bool {
        self.last == job.last
            && self.dictionary_len == job.dictionary.len()
            && self.input.len() == job.dictionary.len() + job.data.len()
            && self.input[..self.dictionary_len] == *job.dictionary
            && self.input[self.dictionary_len..] == *job.data
    }

    fn compress(job: &Job<'_>) -> Result<Self, CompressError> {
        let fail = |e: flate2::CompressError| CompressError(e.to_string());
        let mut z =
            flate2::Compress::new_with_window_bits(flate2::Compression::new(9), false, WINDOW_BITS);
        if !job.dictionary.is_empty() {
            z.set_dictionary(job.dictionary).map_err(fail)?;
        }
        let flush = if job.last {
            flate2::FlushCompress::Finish
        } else {
            flate2::FlushCompress::Sync
        };
        let mut output = Vec::with_capacity(job.data.len() / 8 + 64);
        loop {
            let consumed = usize::try_from(z.total_in()).unwrap_or(usize::MAX);
            let rest = job.data.get(consumed..).unwrap_or_default();
            let before = output.len();
            let status = z.compress_vec(rest, &mut output, flush).map_err(fail)?;
            let done = match status {
                flate2::Status::StreamEnd => true,
                // A sync flush is complete once everything is consumed and zlib left spare
                // room in the output (it had nothing more to write).
                _ => !job.last && rest.is_empty() && output.len() < output.capacity(),
            };
            if done {
                break;
            }
            if output.len() == output.capacity() || output.len() == before {
                output.reserve(output.capacity().max(1024));
            }
        }
        let mut input = Vec::with_capacity(job.dictionary.len() + job.data.len());
        input.extend_from_slice(job.dictionary);
        input.extend_from_slice(job.data);
        Ok(Self {
            dictionary_len: job.dictionary.len(),
            input,
            last: job.last,
            output,
        })
    }
}

/// A status-list compressor that remembers its chunks, so the next call compresses only the
/// chunks whose bytes (or dictionary) changed.
#[derive(Debug, Default)]
pub struct ChunkedZlib {
    chunks: Vec<Chunk>,
    recompressed: usize,
}

impl ChunkedZlib {
    /// A compressor with nothing cached.
    pub fn new() -> Self {
        Self::default()
    }

    /// The zlib stream of `bytes`.
    pub fn compress(&mut self, bytes: &[u8]) -> Result<Vec<u8>, CompressError> {
        let count = bytes.len().div_ceil(CHUNK).max(1);
        let jobs: Vec<Job<'_>> = (0..count)
            .map(|i| {
                let start = i * CHUNK;
                let end = (start + CHUNK).min(bytes.len());
                Job {
                    dictionary: &bytes[start.saturating_sub(WINDOW)..start],
                    data: &bytes[start..end],
                    last: i + 1 == count,
                }
            })
            .collect();
        self.chunks.truncate(count);
        self.chunks.resize_with(count, Chunk::default);
        let stale: Vec<usize> = (0..count)
            .filter(|&i| !self.chunks[i].matches(&jobs[i]))
            .collect();
        for (i, chunk) in stale.iter().zip(compress_all(&jobs, &stale)) {
            self.chunks[*i] = chunk?;
        }
        self.recompressed = stale.len();

        let body: usize = self.chunks.iter().map(|c| c.output.len()).sum();
        let mut out = Vec::with_capacity(body + 6);
        out.extend_from_slice(&zlib_header());
        for chunk in &self.chunks {
            out.extend_from_slice(&chunk.output);
        }
        out.extend_from_slice(&adler2::adler32_slice(bytes).to_be_bytes());
        Ok(out)
    }

    /// How many chunks the last [`Self::compress`] had to compress (the others were reused).
    pub fn recompressed(&self) -> usize {
        self.recompressed
    }
}

/// The zlib stream of `bytes`, compressed from scratch.
pub fn zlib9(bytes: &[u8]) -> Result<Vec<u8>, CompressError> {
    ChunkedZlib::new().compress(bytes)
}

/// RFC 1950 header: CM 8 (deflate), CINFO = window bits - 8, FLEVEL 3 (maximum compression),
/// FCHECK making the 16-bit value a multiple of 31.
fn zlib_header() -> [u8; 2] {
    let cmf = ((WINDOW_BITS - 8) << 4) | 8;
    let flg = 3 << 6;
    let remainder = (u16::from(cmf) * 256 + u16::from(flg)) % 31;
    let fcheck = ((31 - remainder) % 31) as u8;
    [cmf, flg | fcheck]
}

/// A compressed chunk with its position in the list of chunks to compress.
type Numbered = (usize, Result<Chunk, CompressError>);

/// Compresses the chunks `which` of `jobs`, in that order, over the available cores.
fn compress_all(jobs: &[Job<'_>], which: &[usize]) -> Vec<Result<Chunk, CompressError>> {
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(which.len());
    if workers <= 1 {
        return which.iter().map(|&i| Chunk::compress(&jobs[i])).collect();
    }
    let next = AtomicUsize::new(0);
    let joined: Result<Vec<Vec<Numbered>>, _> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let n = next.fetch_add(1, Ordering::Relaxed);
                        let Some(&i) = which.get(n) else { break };
                        mine.push((n, Chunk::compress(&jobs[i])));
                    }
                    mine
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join()).collect()
    });
    let Ok(joined) = joined else {
        // A worker panicked: its chunks are lost, so none of this call's results are used.
        return which
            .iter()
            .map(|_| Err(CompressError("a compression worker panicked".into())))
            .collect();
    };
    let mut done: Vec<_> = joined.into_iter().flatten().collect();
    done.sort_by_key(|(n, _)| *n);
    done.into_iter().map(|(_, chunk)| chunk).collect()
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use proptest::prelude::*;

    use super::*;

    fn inflate(z: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::ZlibDecoder::new(z)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    /// Sparse 2-bit statuses like a real list: mostly zero, every `gap`-th entry revoked.
    fn sparse(len: usize, gap: usize) -> Vec<u8> {
        let mut bytes = vec![0u8; len];
        for i in (0..len * 4).step_by(gap) {
            bytes[i / 4] |= 1 << ((i % 4) * 2);
        }
        bytes
    }

    #[test]
    fn header_declares_a_4_kib_window() {
        let z = zlib9(&sparse(1000, 7)).unwrap();
        assert_eq!(&z[..2], &[0x48, 0xc7]);
        assert_eq!(trustmark_format::status_list::window_len(&z), Some(4096));
    }

    #[test]
    fn round_trips_at_and_around_chunk_boundaries() {
        for len in [
            0,
            1,
            4095,
            4096,
            CHUNK - 1,
            CHUNK,
            CHUNK + 1,
            3 * CHUNK + 17,
        ] {
            let bytes = sparse(len, 101);
            assert_eq!(inflate(&zlib9(&bytes).unwrap()), bytes, "{len} bytes");
        }
    }

    #[test]
    fn a_change_recompresses_only_its_chunk_and_gives_the_same_stream() {
        let mut bits = sparse(4 * CHUNK, 97);
        let mut z = ChunkedZlib::new();
        z.compress(&bits).unwrap();
        assert_eq!(z.recompressed(), 4);
        assert_eq!(z.compress(&bits).unwrap(), zlib9(&bits).unwrap());
        assert_eq!(z.recompressed(), 0);

        bits[CHUNK + 100] ^= 0b10;
        let again = z.compress(&bits).unwrap();
        assert_eq!(z.recompressed(), 1);
        assert_eq!(again, zlib9(&bits).unwrap());
        assert_eq!(inflate(&again), bits);

        // In the last 4 KiB of a chunk: also the next chunk's dictionary.
        bits[2 * CHUNK - 10] ^= 0b01;
        let again = z.compress(&bits).unwrap();
        assert_eq!(z.recompressed(), 2);
        assert_eq!(again, zlib9(&bits).unwrap());

        // The list grows by a block: the old last chunk is no longer last.
        bits.extend_from_slice(&[0; 1000]);
        let again = z.compress(&bits).unwrap();
        assert_eq!(z.recompressed(), 2);
        assert_eq!(inflate(&again), bits);
    }

    #[test]
    fn chunking_costs_little_against_one_whole_stream() {
        let bits = sparse(4 * CHUNK, 100);
        let mut whole =
            flate2::Compress::new_with_window_bits(flate2::Compression::new(9), true, 12);
        let mut one = Vec::with_capacity(bits.len());
        whole
            .compress_vec(&bits, &mut one, flate2::FlushCompress::Finish)
            .unwrap();
        let chunked = zlib9(&bits).unwrap();
        assert!(
            chunked.len() <= one.len() + 4 * 64,
            "{} vs {}",
            chunked.len(),
            one.len()
        );
    }

    #[test]
    fn the_verifiers_inflaters_read_a_chunked_list() {
        use trustmark_format::status_list::{CompressedStatusList, StatusList};
        let bits = sparse(3 * CHUNK + 999, 89);
        let list = StatusList::from_bytes(2, bits.clone()).unwrap();
        let document = list.to_cbor(|b| zlib9(b).unwrap());
        // Whole inflate, as a gateway that expands the list does.
        assert_eq!(
            StatusList::from_cbor(&document, 1 << 20)
                .unwrap()
                .as_bytes(),
            &bits[..]
        );
        // Streaming inflate up to one entry (no_std, 4 KiB window), across every cut.
        let compressed = CompressedStatusList::from_cbor(&document).unwrap();
        for chunk in 0..4 {
            for delta in [-2i64, -1, 0, 1, 4096] {
                let index =
                    ((chunk * CHUNK * 4) as i64 + delta).clamp(0, bits.len() as i64 * 4 - 1);
                let index = index as usize;
                assert_eq!(
                    compressed.get(index, 1 << 20).unwrap(),
                    list.get(index).unwrap(),
                    "entry {index}"
                );
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn any_bits_round_trip(
            len in 0usize..(2 * CHUNK + 5000),
            seed in any::<u64>(),
            density in 1usize..200,
        ) {
            let mut x = seed | 1;
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    if (x % density as u64) == 0 { x as u8 } else { 0 }
                })
                .collect();
            let z = zlib9(&bytes).unwrap();
            prop_assert_eq!(inflate(&z), bytes);
        }
    }
}
