//! `process_large_csv`: a filter, then a group-by or a filtered copy, in bounded memory.
//!
//! A group-by over a regular file without quotes runs in parallel (`csv_fast`: one thread per
//! core, each folding its own blocks of the file). Everything else, and any file the parallel
//! pass hands back (quotes, ragged rows), is one sequential streaming pass with the `csv` crate:
//! rows are read into one reused `ByteRecord` (no per-row allocation), filtered on raw bytes,
//! then either copied to the output as they come or folded into the groups (memory grows with
//! the number of groups, not rows). Both passes fold rows with the same `csv_fold` code.
//! Cancellation and progress are checked every `CHECK_EVERY` rows (every block in parallel).

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;
use std::time::Instant;

use crate::control::{Control, Throttle};
use crate::csv_fast::{self, Pass};
use crate::csv_fold::{Bad, Fold, Plan, Row};
use crate::csv_job::{CsvJob, Summary, Value};
use crate::error::{NativeError, Result};

const CHECK_EVERY: u64 = 1 << 14;
const BUFFER: usize = 1 << 20;

/// Run `job`, reporting to `control`.
pub fn run(job: &CsvJob, control: &dyn Control) -> Result<Summary> {
    let started = Instant::now();
    let mut summary = match parallel(job, control)? {
        Some(summary) => summary,
        None => sequential(job, control)?,
    };
    summary.output = job.output.clone();
    summary.elapsed_s = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// The parallel pass, when the job is a group-by over a regular file it can read; None to read
/// the file sequentially instead.
fn parallel(job: &CsvJob, control: &dyn Control) -> Result<Option<Summary>> {
    let path = job.path.as_path();
    let threads = match job.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let file = File::open(path).map_err(|e| NativeError::io(path, "open", "input file", e))?;
    let regular = file.metadata().is_ok_and(|m| m.is_file());
    let declined = |reason: String| {
        if job.fallback {
            Ok(None)
        } else {
            Err(NativeError::Unsupported(reason))
        }
    };
    if !job.aggregates() || !regular {
        return if job.fallback || !job.aggregates() {
            Ok(None)
        } else {
            Err(NativeError::Unsupported("it is not a regular file".into()))
        };
    }
    let (header, start) = match csv_fast::header(job, &file)? {
        Ok(found) => found,
        Err(reason) => return declined(reason),
    };
    let plan = Plan::new(job, &header)?;
    match csv_fast::run(job, &file, start, header.len(), plan, threads, control)? {
        Pass::Declined(reason) => declined(reason),
        Pass::Done {
            fold,
            rows_read,
            rows_matched,
            threads,
        } => {
            let mut summary = Summary {
                rows_read,
                rows_matched,
                pass: "parallel",
                threads,
                ..Summary::default()
            };
            finish(&fold, job, &mut summary)?;
            Ok(Some(summary))
        }
    }
}

fn sequential(job: &CsvJob, control: &dyn Control) -> Result<Summary> {
    let path = job.path.as_path();
    let file = File::open(path).map_err(|e| NativeError::io(path, "open", "input file", e))?;
    let total = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(job.delimiter)
        .has_headers(job.has_header)
        .buffer_capacity(BUFFER)
        .from_reader(file);
    let header = read_header(&mut reader, job)?;
    let plan = Plan::new(job, &header)?;
    let mut sink = Sink::open(job, &header, &plan)?;

    let mut record = csv::ByteRecord::new();
    let mut summary = Summary {
        pass: "sequential",
        threads: 1,
        ..Summary::default()
    };
    let mut throttle = Throttle::new(1.0);
    while reader
        .read_byte_record(&mut record)
        .map_err(|e| NativeError::csv(path, e))?
    {
        summary.rows_read += 1;
        let row = summary.rows_read;
        if row.is_multiple_of(CHECK_EVERY) {
            if control.cancelled() {
                return Err(NativeError::Cancelled { rows_read: row });
            }
            if let (Some(pos), true) = (record.position(), total > 0) {
                throttle.report(
                    control,
                    100.0 * pos.byte() as f64 / total as f64,
                    "reading rows",
                );
            }
        }
        let record = Record(&record);
        let keep = plan.keep(&record);
        if keep.map_err(|bad| bad_field(bad, &record, row))? {
            summary.rows_matched += 1;
            sink.accept(&record, row)?;
        }
    }
    sink.finish(job, &mut summary)?;
    Ok(summary)
}

struct Record<'a>(&'a csv::ByteRecord);

impl Row for Record<'_> {
    fn field(&self, index: usize) -> &[u8] {
        self.0.get(index).unwrap_or(b"")
    }
}

fn bad_field(bad: Bad, record: &Record<'_>, row: u64) -> NativeError {
    NativeError::BadNumber {
        line: record.0.position().map_or(0, |p| p.line()),
        row,
        column: bad.column,
        expected: bad.expected,
        value: String::from_utf8_lossy(&bad.value).into_owned(),
    }
}

fn read_header(reader: &mut csv::Reader<File>, job: &CsvJob) -> Result<Vec<String>> {
    let first = reader
        .byte_headers()
        .map_err(|e| NativeError::csv(&job.path, e))?;
    if !job.has_header {
        return Ok((1..=first.len()).map(|i| format!("column_{i}")).collect());
    }
    Ok(first
        .iter()
        .map(|name| String::from_utf8_lossy(name).trim().to_string())
        .collect())
}

enum Sink {
    Copy(Option<Box<(csv::Writer<BufWriter<File>>, std::path::PathBuf)>>),
    Group(Box<Fold>),
}

impl Sink {
    fn open(job: &CsvJob, header: &[String], plan: &Plan) -> Result<Self> {
        if job.aggregates() {
            return Ok(Self::Group(Box::new(Fold::new(plan.clone()))));
        }
        let Some(path) = job.output.as_deref() else {
            return Ok(Self::Copy(None));
        };
        let mut w = writer(path, job.delimiter)?;
        if job.has_header {
            w.write_record(header).map_err(|e| write_error(path, e))?;
        }
        Ok(Self::Copy(Some(Box::new((w, path.to_path_buf())))))
    }

    fn accept(&mut self, record: &Record<'_>, row: u64) -> Result<()> {
        match self {
            Self::Copy(None) => Ok(()),
            Self::Copy(Some(out)) => {
                let (w, path) = &mut **out;
                w.write_byte_record(record.0)
                    .map_err(|e| write_error(path, e))
            }
            Self::Group(fold) => fold
                .accept(record)
                .map_err(|bad| bad_field(bad, record, row)),
        }
    }

    fn finish(self, job: &CsvJob, summary: &mut Summary) -> Result<()> {
        match self {
            Self::Copy(None) => Ok(()),
            Self::Copy(Some(out)) => {
                let (mut w, path) = *out;
                w.flush()
                    .map_err(|e| NativeError::io(&path, "write", "output", e))
            }
            Self::Group(fold) => finish(&fold, job, summary),
        }
    }
}

/// Put the groups of a finished pass in the summary and, with `output`, in a CSV file.
fn finish(fold: &Fold, job: &CsvJob, summary: &mut Summary) -> Result<()> {
    summary.columns = job.group_by.to_vec();
    summary
        .columns
        .extend(job.aggregations.iter().map(|a| a.alias.clone()));
    let rows = fold.rows();
    summary.groups = Some(rows.len() as u64);
    if let Some(path) = job.output.as_deref() {
        let mut w = writer(path, job.delimiter)?;
        w.write_record(&summary.columns)
            .map_err(|e| write_error(path, e))?;
        for (key, values) in &rows {
            let keys = key.iter().map(|k| k.clone().unwrap_or_default());
            let cells = values.iter().map(|v| match v {
                Value::Int(i) => i.to_string(),
                Value::Float(f) => f.to_string(),
                Value::Null => String::new(),
            });
            let record: Vec<String> = keys.chain(cells).collect();
            w.write_record(&record).map_err(|e| write_error(path, e))?;
        }
        w.flush()
            .map_err(|e| NativeError::io(path, "write", "output", e))?;
    }
    if job.collect_groups {
        summary.group_rows = rows;
    }
    Ok(())
}

fn writer(path: &Path, delimiter: u8) -> Result<csv::Writer<BufWriter<File>>> {
    let file = File::create(path).map_err(|e| NativeError::Io {
        path: path.to_path_buf(),
        action: "create the output",
        source: e,
    })?;
    Ok(csv::WriterBuilder::new()
        .delimiter(delimiter)
        .from_writer(BufWriter::with_capacity(BUFFER, file)))
}

fn write_error(path: &Path, err: csv::Error) -> NativeError {
    NativeError::Csv {
        path: path.to_path_buf(),
        message: format!("cannot write the output: {err}"),
    }
}
