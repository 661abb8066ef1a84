//! The parallel pass of a group-by: the file cut into blocks at byte offsets, each thread
//! claiming the next block, splitting its lines with `memchr` and folding them into its own
//! groups; the groups are merged at the end.
//!
//! It reads unquoted CSV only. A block owns the lines that start in it; it reads one byte before
//! its start (to see whether a line starts there) and past its end until the newline of its last
//! line. Memory is one block buffer per thread plus the groups: about `threads x BLOCK`,
//! whatever the file size. Each block is searched for a quote first; a quote, a row with another
//! number of fields than the header, a blank line or a field that does not fit its column hands
//! the whole file back to the caller
//! ([`Pass::Declined`]), which reads it sequentially or lets another engine answer.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use crate::control::{Control, Throttle};
use crate::csv_fold::{Fold, Plan, Row};
use crate::csv_job::CsvJob;
use crate::error::{NativeError, Result};

const BLOCK: u64 = 4 << 20;
const TAIL: usize = 64 << 10;
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// What the parallel pass did.
pub enum Pass {
    Done {
        fold: Fold,
        rows_read: u64,
        rows_matched: u64,
        threads: usize,
    },
    /// Why it cannot read this file; nothing was returned.
    Declined(String),
}

/// The header of an unquoted file: its column names and where the data starts.
pub fn header(
    job: &CsvJob,
    file: &File,
) -> Result<std::result::Result<(Vec<String>, u64), String>> {
    let mut line = Vec::new();
    let mut chunk = vec![0u8; TAIL];
    loop {
        let n = read_at(job, file, &mut chunk, line.len() as u64)?;
        line.extend_from_slice(&chunk[..n]);
        if n == 0 || memchr::memchr(b'\n', &chunk[..n]).is_some() {
            break;
        }
    }
    let Some(end) = memchr::memchr(b'\n', &line) else {
        return Ok(Err("the file has no complete first line".into()));
    };
    let first = line[..end].strip_suffix(b"\r").unwrap_or(&line[..end]);
    let first = first.strip_prefix(BOM).unwrap_or(first);
    if memchr::memchr(b'"', first).is_some() {
        return Ok(Err("the first line has quotes".into()));
    }
    let fields = first.split(|&b| b == job.delimiter);
    if !job.has_header {
        let count = fields.count();
        return Ok(Ok((
            (1..=count).map(|i| format!("column_{i}")).collect(),
            0,
        )));
    }
    let names = fields.map(|name| String::from_utf8_lossy(name).trim().to_string());
    Ok(Ok((names.collect(), end as u64 + 1)))
}

/// Fold the data of `file` (from byte `start`, rows of `width` fields) with `plan` on `threads`
/// threads.
pub fn run(
    job: &CsvJob,
    file: &File,
    start: u64,
    width: usize,
    plan: Plan,
    threads: usize,
    control: &dyn Control,
) -> Result<Pass> {
    let len = file
        .metadata()
        .map_err(|e| NativeError::io(&job.path, "read", "input file", e))?
        .len();
    let blocks = (len.saturating_sub(start)).div_ceil(BLOCK);
    let threads = threads.clamp(1, blocks.max(1) as usize);
    let shared = Shared {
        job,
        file,
        start,
        width,
        len,
        control,
        next: AtomicU64::new(0),
        blocks,
        done: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        throttle: Mutex::new(Throttle::new(1.0)),
    };
    let results: Vec<Result<Worker>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let mut worker = Worker::new(Fold::new(plan.clone()));
                let shared = &shared;
                scope.spawn(move || worker.work(shared).map(|()| worker))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a CSV worker thread panicked"))
            .collect()
    });
    let mut merged: Option<Worker> = None;
    for result in results {
        let worker = result?;
        if let Some(reason) = worker.declined {
            return Ok(Pass::Declined(reason));
        }
        match merged.as_mut() {
            None => merged = Some(worker),
            Some(into) => {
                into.rows_read += worker.rows_read;
                into.rows_matched += worker.rows_matched;
                into.fold.merge(worker.fold);
            }
        }
    }
    if control.cancelled() {
        return Err(NativeError::Cancelled {
            rows_read: merged.as_ref().map_or(0, |w| w.rows_read),
        });
    }
    let merged = merged.unwrap_or_else(|| Worker::new(Fold::new(plan)));
    Ok(Pass::Done {
        fold: merged.fold,
        rows_read: merged.rows_read,
        rows_matched: merged.rows_matched,
        threads,
    })
}

fn read_at(job: &CsvJob, file: &File, buf: &mut [u8], offset: u64) -> Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read_at(&mut buf[filled..], offset + filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(NativeError::io(&job.path, "read", "input file", e)),
        }
    }
    Ok(filled)
}

struct Shared<'a> {
    job: &'a CsvJob,
    file: &'a File,
    start: u64,
    /// Fields in the header: every row must have as many.
    width: usize,
    len: u64,
    control: &'a dyn Control,
    next: AtomicU64,
    blocks: u64,
    done: AtomicU64,
    stop: AtomicBool,
    throttle: Mutex<Throttle>,
}

struct Worker {
    fold: Fold,
    buf: Vec<u8>,
    spans: Vec<(usize, usize)>,
    rows_read: u64,
    rows_matched: u64,
    declined: Option<String>,
}

struct Line<'a> {
    text: &'a [u8],
    spans: &'a [(usize, usize)],
}

impl Row for Line<'_> {
    fn field(&self, index: usize) -> &[u8] {
        self.spans
            .get(index)
            .map_or(b"", |&(from, to)| &self.text[from..to])
    }
}

impl Worker {
    fn new(fold: Fold) -> Self {
        Self {
            fold,
            buf: Vec::new(),
            spans: Vec::new(),
            rows_read: 0,
            rows_matched: 0,
            declined: None,
        }
    }

    fn work(&mut self, shared: &Shared<'_>) -> Result<()> {
        loop {
            if shared.stop.load(Ordering::Relaxed) || shared.control.cancelled() {
                return Ok(());
            }
            let block = shared.next.fetch_add(1, Ordering::Relaxed);
            if block >= shared.blocks {
                return Ok(());
            }
            let outcome = self.block(shared, block);
            let max = shared.job.max_groups;
            if max > 0 && self.fold.groups() > max && self.declined.is_none() {
                self.declined = Some(format!("more than {max} groups"));
            }
            if outcome.is_err() || self.declined.is_some() {
                shared.stop.store(true, Ordering::Relaxed);
                return outcome;
            }
            let done = shared.done.fetch_add(1, Ordering::Relaxed) + 1;
            if let Ok(mut throttle) = shared.throttle.try_lock() {
                let percent = 100.0 * done as f64 / shared.blocks as f64;
                throttle.report(shared.control, percent, "reading rows");
            }
        }
    }

    /// Read block `index` and fold the lines that start in it.
    fn block(&mut self, shared: &Shared<'_>, index: u64) -> Result<()> {
        let from = shared.start + index * BLOCK;
        let to = (from + BLOCK).min(shared.len);
        let read_from = if index == 0 { from } else { from - 1 };
        let size = (to - read_from) as usize;
        if self.buf.len() < size + TAIL {
            self.buf.resize(size + TAIL, 0);
        }
        let mut filled = read_at(shared.job, shared.file, &mut self.buf[..size], read_from)?;
        let mut first = 0;
        if index > 0 {
            match memchr::memchr(b'\n', &self.buf[..filled]) {
                Some(newline) => first = newline + 1,
                None => return Ok(()), // a line from an earlier block spans this one
            }
        }
        // Complete the last line, which may end in a later block.
        let mut at = to;
        while at < shared.len && filled > 0 && self.buf[filled - 1] != b'\n' {
            if self.buf.len() < filled + TAIL {
                self.buf.resize(filled + TAIL, 0);
            }
            let got = read_at(
                shared.job,
                shared.file,
                &mut self.buf[filled..filled + TAIL],
                at,
            )?;
            if got == 0 {
                break;
            }
            let newline = memchr::memchr(b'\n', &self.buf[filled..filled + got]);
            let keep = newline.map_or(got, |n| n + 1);
            filled += keep;
            at += keep as u64;
            if newline.is_some() {
                break;
            }
        }
        let buf = std::mem::take(&mut self.buf);
        let data = &buf[first..filled];
        if memchr::memchr(b'"', data).is_some() {
            self.declined = Some("it has quoted fields".into());
        } else {
            self.lines(data, shared.job.delimiter, shared.width);
        }
        self.buf = buf;
        Ok(())
    }

    /// Split `data` into lines and fields in one scan for delimiters and newlines, folding each
    /// line as it ends (a last line without a newline too).
    fn lines(&mut self, data: &[u8], delimiter: u8, width: usize) {
        let needed = self.fold.plan().last_column + 1;
        let (mut line_start, mut field_start, mut fields) = (0, 0, 1);
        self.spans.clear();
        let mut going = true;
        separators(data, delimiter, |at| {
            if data[at] == delimiter {
                if self.spans.len() < needed {
                    self.spans.push((field_start, at));
                }
                field_start = at + 1;
                fields += 1;
                return true;
            }
            let end = if at > line_start && data[at - 1] == b'\r' {
                at - 1
            } else {
                at
            };
            going = self.line(
                data,
                (line_start, field_start, end),
                fields == width,
                needed,
            );
            if going {
                (line_start, field_start, fields) = (at + 1, at + 1, 1);
            }
            going
        });
        if going && line_start < data.len() {
            let end = data.len() - usize::from(data.ends_with(b"\r"));
            going = self.line(
                data,
                (line_start, field_start, end),
                fields == width,
                needed,
            );
        }
        if let (Some(reason), false) = (&mut self.declined, going) {
            if reason.is_empty() {
                *reason = format!("a row has {fields} field(s) where the header has {width}");
            }
        }
    }

    /// Fold the line `data[start..end]` whose fields before the `last` are in `spans`; false
    /// when the pass must stop (declined; an empty reason: the row has the wrong width, which
    /// `lines` words).
    fn line(
        &mut self,
        data: &[u8],
        (start, last, end): (usize, usize, usize),
        full: bool,
        needed: usize,
    ) -> bool {
        if !full || start == end {
            self.declined = Some(if full {
                "a blank line".into()
            } else {
                String::new()
            });
            return false;
        }
        if self.spans.len() < needed {
            self.spans.push((last.min(end), end));
        }
        self.rows_read += 1;
        let row = Line {
            text: data,
            spans: &self.spans,
        };
        let mut kept = self.fold.plan().keep(&row);
        if let Ok(true) = kept {
            self.rows_matched += 1;
            kept = self.fold.accept(&row).map(|()| true);
        }
        self.spans.clear();
        if let Err(bad) = kept {
            self.declined = Some(format!(
                "column '{}' has '{}' where {} was expected",
                bad.column,
                String::from_utf8_lossy(&bad.value),
                bad.expected
            ));
            return false;
        }
        true
    }
}

/// Call `found` with the position of every `delimiter` and newline in `data`, in order, until
/// it returns false. Positions come from a bit mask per 64 bytes (16-byte SSE2 compares on
/// x86_64, a byte loop elsewhere): fields are a few bytes long, too short for `memchr` calls to
/// pay for their set-up.
#[inline(always)]
fn separators(data: &[u8], delimiter: u8, mut found: impl FnMut(usize) -> bool) {
    let mut last = [0u8; 64];
    let whole = data.len() / 64 * 64;
    last[..data.len() - whole].copy_from_slice(&data[whole..]);
    // One call site for `found`, so the compiler inlines it: the tail, zero-padded, is the last
    // chunk, its padding masked off.
    let tail = u64::MAX
        .checked_shr((64 - (data.len() - whole)) as u32)
        .unwrap_or(0);
    for base in (0..=whole).step_by(64) {
        let mut mask = if base < whole {
            mask64(
                data[base..base + 64].try_into().expect("64 bytes"),
                delimiter,
            )
        } else {
            mask64(&last, delimiter) & tail
        };
        while mask != 0 {
            if !found(base + mask.trailing_zeros() as usize) {
                return;
            }
            mask &= mask - 1;
        }
    }
}

#[cfg(target_arch = "x86_64")]
fn mask64(chunk: &[u8; 64], delimiter: u8) -> u64 {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
    };
    // SAFETY: SSE2 is part of the x86_64 baseline, and each unaligned 16-byte load reads inside
    // the 64-byte array.
    unsafe {
        let delimiters = _mm_set1_epi8(delimiter as i8);
        let newlines = _mm_set1_epi8(b'\n' as i8);
        let mut mask = 0u64;
        for i in 0..4 {
            let bytes = _mm_loadu_si128(chunk.as_ptr().add(16 * i).cast::<__m128i>());
            let hits = _mm_or_si128(
                _mm_cmpeq_epi8(bytes, delimiters),
                _mm_cmpeq_epi8(bytes, newlines),
            );
            mask |= u64::from(_mm_movemask_epi8(hits) as u16) << (16 * i);
        }
        mask
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn mask64(chunk: &[u8; 64], delimiter: u8) -> u64 {
    chunk.iter().enumerate().fold(0, |mask, (i, &b)| {
        mask | (u64::from(b == delimiter || b == b'\n') << i)
    })
}
