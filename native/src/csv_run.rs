//! `process_large_csv`: one streaming pass over a CSV file in constant memory.
//!
//! Rows are read into one reused `ByteRecord` (no per-row allocation), filtered on raw bytes,
//! then either copied to the output as they come or folded into a hash table of groups (memory
//! grows with the number of groups, not rows). Cancellation and progress are checked every
//! `CHECK_EVERY` rows.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;
use std::time::Instant;

use memchr::memmem;
use rustc_hash::FxHashMap;

use crate::control::{Control, Throttle};
use crate::csv_job::{AggOp, CompareOp, CsvJob, Operand, Summary, Value};
use crate::error::{NativeError, Result};

const CHECK_EVERY: u64 = 1 << 14;
const BUFFER: usize = 1 << 20;

/// Run `job`, reporting to `control`.
pub fn run(job: &CsvJob, control: &dyn Control) -> Result<Summary> {
    let started = Instant::now();
    let path = job.path.as_path();
    let file = File::open(path).map_err(|e| NativeError::io(path, "open", "input file", e))?;
    let total = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(job.delimiter)
        .has_headers(job.has_header)
        .buffer_capacity(BUFFER)
        .from_reader(file);
    let header = read_header(&mut reader, job)?;
    let filters = job
        .filters
        .iter()
        .map(|f| RowFilter::compile(f, &header))
        .collect::<Result<Vec<_>>>()?;
    let mut sink = Sink::open(job, &header)?;

    let mut record = csv::ByteRecord::new();
    let mut summary = Summary::default();
    let mut throttle = Throttle::new(1.0);
    while reader
        .read_byte_record(&mut record)
        .map_err(|e| NativeError::csv(path, e))?
    {
        summary.rows_read += 1;
        let row = summary.rows_read;
        if row % CHECK_EVERY == 0 {
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
        let mut keep = true;
        for filter in &filters {
            if !filter.matches(&record, row)? {
                keep = false;
                break;
            }
        }
        if keep {
            summary.rows_matched += 1;
            sink.accept(&record, row)?;
        }
    }
    sink.finish(job, &mut summary)?;
    summary.output = job.output.clone();
    summary.elapsed_s = started.elapsed().as_secs_f64();
    Ok(summary)
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

fn column_index(header: &[String], name: &str, role: &'static str) -> Result<usize> {
    header
        .iter()
        .position(|c| c == name)
        .ok_or_else(|| NativeError::UnknownColumn {
            column: name.to_string(),
            role,
            available: header.to_vec(),
        })
}

/// Parse a numeric field; empty (or blank) is a missing value.
fn number(field: &[u8], record: &csv::ByteRecord, row: u64, column: &str) -> Result<Option<f64>> {
    let text = field.trim_ascii();
    if text.is_empty() {
        return Ok(None);
    }
    std::str::from_utf8(text)
        .ok()
        .and_then(|t| t.parse::<f64>().ok())
        .map(Some)
        .ok_or_else(|| NativeError::BadNumber {
            line: record.position().map_or(0, |p| p.line()),
            row,
            column: column.to_string(),
            value: String::from_utf8_lossy(field).into_owned(),
        })
}

enum Test {
    Number(f64),
    Text(Vec<u8>),
    Contains(Box<memmem::Finder<'static>>),
}

struct RowFilter {
    index: usize,
    column: String,
    op: CompareOp,
    test: Test,
}

impl RowFilter {
    fn compile(filter: &crate::csv_job::Filter, header: &[String]) -> Result<Self> {
        let index = column_index(header, &filter.column, "filter")?;
        let test = match (&filter.value, filter.op) {
            (Operand::Text(t), CompareOp::Contains) => {
                Test::Contains(Box::new(memmem::Finder::new(t.as_bytes()).into_owned()))
            }
            (Operand::Text(t), _) => Test::Text(t.as_bytes().to_vec()),
            (Operand::Number(n), _) => Test::Number(*n),
        };
        Ok(Self {
            index,
            column: filter.column.clone(),
            op: filter.op,
            test,
        })
    }

    fn matches(&self, record: &csv::ByteRecord, row: u64) -> Result<bool> {
        let field = record.get(self.index).unwrap_or(b"");
        Ok(match &self.test {
            Test::Contains(finder) => finder.find(field).is_some(),
            Test::Text(text) => self.op.holds(field.cmp(text.as_slice())),
            Test::Number(operand) => match number(field, record, row, &self.column)? {
                None => false,
                Some(value) => value.partial_cmp(operand).is_some_and(|o| self.op.holds(o)),
            },
        })
    }
}

/// Running state of one aggregation in one group.
#[derive(Clone, Copy)]
struct Acc {
    n: u64,
    sum: f64,
    min: f64,
    max: f64,
}

impl Acc {
    const EMPTY: Self = Self {
        n: 0,
        sum: 0.0,
        min: f64::INFINITY,
        max: f64::NEG_INFINITY,
    };

    fn add(&mut self, value: f64) {
        self.n += 1;
        self.sum += value;
        self.min = self.min.min(value);
        self.max = self.max.max(value);
    }

    fn value(&self, op: AggOp) -> Value {
        match op {
            AggOp::Count => Value::Int(self.n),
            AggOp::Sum => Value::Float(self.sum),
            _ if self.n == 0 => Value::Null,
            AggOp::Min => Value::Float(self.min),
            AggOp::Max => Value::Float(self.max),
            AggOp::Mean => Value::Float(self.sum / self.n as f64),
        }
    }
}

struct Groups {
    keys: Vec<usize>,
    aggs: Vec<(Option<(usize, String)>, AggOp)>,
    index: FxHashMap<Box<[u8]>, usize>,
    accs: Vec<Acc>,
    key: Vec<u8>,
}

impl Groups {
    /// The group key of a row: the field itself for one key column, else length-prefixed fields.
    fn encode_key(&mut self, record: &csv::ByteRecord) {
        self.key.clear();
        if let [only] = self.keys[..] {
            self.key.extend_from_slice(record.get(only).unwrap_or(b""));
            return;
        }
        for &i in &self.keys {
            let field = record.get(i).unwrap_or(b"");
            self.key
                .extend_from_slice(&(field.len() as u32).to_le_bytes());
            self.key.extend_from_slice(field);
        }
    }

    fn decode_key(&self, key: &[u8]) -> Vec<String> {
        if self.keys.len() == 1 {
            return vec![String::from_utf8_lossy(key).into_owned()];
        }
        let mut parts = Vec::with_capacity(self.keys.len());
        let mut rest = key;
        while rest.len() >= 4 {
            let n = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
            parts.push(String::from_utf8_lossy(&rest[4..4 + n]).into_owned());
            rest = &rest[4 + n..];
        }
        parts
    }

    fn accept(&mut self, record: &csv::ByteRecord, row: u64) -> Result<()> {
        self.encode_key(record);
        let width = self.aggs.len();
        let group = match self.index.get(self.key.as_slice()) {
            Some(&g) => g,
            None => {
                let g = self.index.len();
                self.index.insert(self.key.clone().into_boxed_slice(), g);
                self.accs.extend(std::iter::repeat_n(Acc::EMPTY, width));
                g
            }
        };
        let accs = &mut self.accs[group * width..(group + 1) * width];
        for (acc, (column, _)) in accs.iter_mut().zip(&self.aggs) {
            match column {
                None => acc.n += 1,
                Some((i, name)) => {
                    let field = record.get(*i).unwrap_or(b"");
                    if let Some(value) = number(field, record, row, name)? {
                        acc.add(value);
                    }
                }
            }
        }
        Ok(())
    }
}

enum Sink {
    Copy(Option<Box<(csv::Writer<BufWriter<File>>, std::path::PathBuf)>>),
    Group(Groups),
}

impl Sink {
    fn open(job: &CsvJob, header: &[String]) -> Result<Self> {
        if !job.aggregates() {
            let Some(path) = job.output.as_deref() else {
                return Ok(Self::Copy(None));
            };
            let mut w = writer(path, job.delimiter)?;
            if job.has_header {
                w.write_record(header).map_err(|e| write_error(path, e))?;
            }
            return Ok(Self::Copy(Some(Box::new((w, path.to_path_buf())))));
        }
        let keys = job
            .group_by
            .iter()
            .map(|c| column_index(header, c, "group_by"))
            .collect::<Result<Vec<_>>>()?;
        let mut aggs = Vec::new();
        for agg in &job.aggregations {
            let column = match &agg.column {
                None => None,
                Some(c) => Some((column_index(header, c, "aggregations")?, c.clone())),
            };
            aggs.push((column, agg.op));
        }
        let index = FxHashMap::default();
        Ok(Self::Group(Groups {
            keys,
            aggs,
            index,
            accs: Vec::new(),
            key: Vec::new(),
        }))
    }

    fn accept(&mut self, record: &csv::ByteRecord, row: u64) -> Result<()> {
        match self {
            Self::Copy(None) => Ok(()),
            Self::Copy(Some(out)) => {
                let (w, path) = &mut **out;
                w.write_byte_record(record)
                    .map_err(|e| write_error(path, e))
            }
            Self::Group(groups) => groups.accept(record, row),
        }
    }

    fn finish(self, job: &CsvJob, summary: &mut Summary) -> Result<()> {
        let groups = match self {
            Self::Copy(writer) => {
                if let Some(out) = writer {
                    let (mut w, path) = *out;
                    w.flush()
                        .map_err(|e| NativeError::io(&path, "write", "output", e))?;
                }
                return Ok(());
            }
            Self::Group(groups) => groups,
        };
        summary.columns = job.group_by.to_vec();
        summary
            .columns
            .extend(job.aggregations.iter().map(|a| a.alias.clone()));
        let mut rows: Vec<(Vec<String>, usize)> = groups
            .index
            .iter()
            .map(|(k, &g)| (groups.decode_key(k), g))
            .collect();
        rows.sort_unstable();
        summary.groups = Some(rows.len() as u64);
        let width = groups.aggs.len();
        let values = |g: usize| -> Vec<Value> {
            let accs = &groups.accs[g * width..(g + 1) * width];
            accs.iter()
                .zip(&groups.aggs)
                .map(|(acc, (_, op))| acc.value(*op))
                .collect()
        };
        if let Some(path) = job.output.as_deref() {
            let mut w = writer(path, job.delimiter)?;
            w.write_record(&summary.columns)
                .map_err(|e| write_error(path, e))?;
            for (key, g) in &rows {
                let cells = values(*g).into_iter().map(|v| match v {
                    Value::Int(i) => i.to_string(),
                    Value::Float(f) => f.to_string(),
                    Value::Null => String::new(),
                });
                let record: Vec<String> = key.iter().cloned().chain(cells).collect();
                w.write_record(&record).map_err(|e| write_error(path, e))?;
            }
            w.flush()
                .map_err(|e| NativeError::io(path, "write", "output", e))?;
        }
        if job.collect_groups {
            summary.group_rows = rows.into_iter().map(|(key, g)| (key, values(g))).collect();
        }
        Ok(())
    }
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
