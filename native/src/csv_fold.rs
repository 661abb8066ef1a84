//! The per-row work both passes over a CSV share: compiled filters, group keys and typed
//! accumulators. A pass splits rows into fields its own way (the `csv` crate, or the parallel
//! splitter of `csv_fast`) and hands each row to a [`Fold`] through the [`Row`] trait.
//!
//! How a field is read depends on its column's [`Kind`]: `Auto` trims blanks and reads floats
//! (what `process_large_csv` always did), the typed kinds read fields as polars reads a column of
//! that dtype. A field that does not fit its kind is a [`Bad`] field; each pass decides what that
//! means (the sequential pass names the line, the parallel one hands the file over).

use memchr::memmem;
use rustc_hash::FxHashMap;

use crate::csv_job::{AggOp, CompareOp, CsvJob, Filter, Kind, Operand, Value};
use crate::error::{NativeError, Result};

/// A row split into fields; a field past the end of the row is empty.
pub trait Row {
    fn field(&self, index: usize) -> &[u8];
}

/// A field that does not fit its column's kind.
#[derive(Debug)]
pub struct Bad {
    pub column: String,
    pub expected: &'static str,
    pub value: Vec<u8>,
}

type Parsed<T> = std::result::Result<T, Bad>;

pub fn column_index(header: &[String], name: &str, role: &'static str) -> Result<usize> {
    header
        .iter()
        .position(|c| c == name)
        .ok_or_else(|| NativeError::UnknownColumn {
            column: name.to_string(),
            role,
            available: header.to_vec(),
        })
}

/// One column as the fold reads it.
#[derive(Clone)]
struct Column {
    index: usize,
    name: String,
    kind: Kind,
}

impl Column {
    fn new(job: &CsvJob, header: &[String], name: &str, role: &'static str) -> Result<Self> {
        Ok(Self {
            index: column_index(header, name, role)?,
            name: name.to_string(),
            kind: job.kind(name),
        })
    }

    fn bad(&self, expected: &'static str, field: &[u8]) -> Bad {
        Bad {
            column: self.name.clone(),
            expected,
            value: field.to_vec(),
        }
    }

    /// The field as a number, None when it is empty (missing).
    #[inline]
    fn number(&self, field: &[u8]) -> Parsed<Option<Number>> {
        let text = if self.kind == Kind::Auto {
            field.trim_ascii()
        } else {
            field
        };
        if text.is_empty() {
            return Ok(None);
        }
        let parsed = match self.kind {
            Kind::Int => parse_str::<i64>(text).map(Number::Int),
            // NaN orders and aggregates differently across engines: the typed pass refuses it.
            Kind::Float => parse_float(text).filter(|f| !f.is_nan()).map(Number::Float),
            _ => parse_float(text).map(Number::Float),
        };
        match parsed {
            Some(number) => Ok(Some(number)),
            None if self.kind == Kind::Int => Err(self.bad("an integer", field)),
            None => Err(self.bad("a number", field)),
        }
    }

    #[inline]
    fn boolean(&self, field: &[u8]) -> Parsed<Option<bool>> {
        // `| 0x20` lower-cases ASCII letters and maps no other byte onto one: a case-blind
        // compare of four bytes at once.
        let folded = |bytes: &[u8]| u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        const TRUE: u32 = u32::from_le_bytes(*b"true");
        const FALS: u32 = u32::from_le_bytes(*b"fals");
        match field.len() {
            0 => Ok(None),
            4 if folded(field) | 0x2020_2020 == TRUE => Ok(Some(true)),
            5 if folded(field) | 0x2020_2020 == FALS && field[4] | 0x20 == b'e' => Ok(Some(false)),
            _ => Err(self.bad("true or false", field)),
        }
    }
}

fn parse_str<T: std::str::FromStr>(text: &[u8]) -> Option<T> {
    std::str::from_utf8(text).ok()?.parse().ok()
}

/// A float, exactly as `str::parse` reads it. Plain decimals of at most 15 digits (most CSV
/// numbers) take Clinger's fast path: the digits and the power of ten are exact doubles, so one
/// correctly rounded division gives the correctly rounded value; the rest go to `str::parse`.
pub fn parse_float(text: &[u8]) -> Option<f64> {
    const POWERS: [f64; 16] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
    ];
    let (negative, digits) = match text.first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (mut mantissa, mut count, mut point) = (0u64, 0usize, None);
    for (i, &b) in digits.iter().enumerate() {
        match b {
            b'0'..=b'9' => {
                mantissa = mantissa * 10 + u64::from(b - b'0');
                count += 1;
            }
            b'.' if point.is_none() => point = Some(i),
            _ => return parse_str(text),
        }
        if count > 15 {
            return parse_str(text);
        }
    }
    if count == 0 {
        return parse_str(text);
    }
    let scale = point.map_or(0, |p| digits.len() - p - 1);
    let value = mantissa as f64 / POWERS[scale];
    Some(if negative { -value } else { value })
}

#[derive(Clone, Copy)]
enum Number {
    Int(i64),
    Float(f64),
}

impl Number {
    fn float(self) -> f64 {
        match self {
            Self::Int(i) => i as f64,
            Self::Float(f) => f,
        }
    }
}

#[derive(Clone)]
enum Test {
    Number(Operand),
    Bool(bool),
    Text(Vec<u8>),
    Contains(Box<memmem::Finder<'static>>),
}

#[derive(Clone)]
struct RowFilter {
    column: Column,
    op: CompareOp,
    test: Test,
}

impl RowFilter {
    fn compile(job: &CsvJob, filter: &Filter, header: &[String]) -> Result<Self> {
        let column = Column::new(job, header, &filter.column, "filter")?;
        let clash = matches!(
            (&filter.value, column.kind),
            (Operand::Text(_), Kind::Int | Kind::Float | Kind::Bool)
                | (Operand::Bool(_), Kind::Int | Kind::Float | Kind::Text)
                | (
                    Operand::Number(_) | Operand::Int(_),
                    Kind::Bool | Kind::Text
                )
        );
        if clash {
            return Err(NativeError::Invalid(format!(
                "filter on '{}' ({:?} column) cannot compare with {:?}",
                filter.column, column.kind, filter.value
            )));
        }
        let test = match (&filter.value, filter.op) {
            (Operand::Text(t), CompareOp::Contains) => {
                Test::Contains(Box::new(memmem::Finder::new(t.as_bytes()).into_owned()))
            }
            (Operand::Text(t), _) => Test::Text(t.as_bytes().to_vec()),
            (Operand::Bool(b), _) => Test::Bool(*b),
            (number, _) => Test::Number(number.clone()),
        };
        Ok(Self {
            column,
            op: filter.op,
            test,
        })
    }

    #[inline]
    fn matches(&self, field: &[u8], empty_is_null: bool) -> Parsed<bool> {
        let column = &self.column;
        Ok(match &self.test {
            Test::Contains(_) | Test::Text(_) if empty_is_null && field.is_empty() => false,
            Test::Contains(finder) => finder.find(field).is_some(),
            Test::Text(text) => self.op.holds(field.cmp(text.as_slice())),
            Test::Bool(operand) => column
                .boolean(field)?
                .is_some_and(|b| self.op.holds(b.cmp(operand))),
            Test::Number(operand) => match (column.number(field)?, operand) {
                (None, _) => false,
                (Some(Number::Int(value)), Operand::Int(int)) => self.op.holds(value.cmp(int)),
                (Some(value), operand) => {
                    let operand = match operand {
                        Operand::Int(i) => *i as f64,
                        Operand::Number(f) => *f,
                        _ => unreachable!("a number test holds a number"),
                    };
                    let ordering = value.float().partial_cmp(&operand);
                    ordering.is_some_and(|o| self.op.holds(o))
                }
            },
        })
    }
}

/// Running state of one aggregation in one group: integer and float views of the same values.
#[derive(Clone, Copy)]
struct Acc {
    n: u64,
    sum: f64,
    min: f64,
    max: f64,
    isum: i64,
    imin: i64,
    imax: i64,
}

impl Acc {
    const EMPTY: Self = Self {
        n: 0,
        sum: 0.0,
        min: f64::INFINITY,
        max: f64::NEG_INFINITY,
        isum: 0,
        imin: i64::MAX,
        imax: i64::MIN,
    };

    fn add(&mut self, value: Number) {
        self.n += 1;
        if let Number::Int(i) = value {
            self.isum = self.isum.wrapping_add(i);
            self.imin = self.imin.min(i);
            self.imax = self.imax.max(i);
        }
        let f = value.float();
        self.sum += f;
        self.min = self.min.min(f);
        self.max = self.max.max(f);
    }

    fn merge(&mut self, other: &Self) {
        self.n += other.n;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.isum = self.isum.wrapping_add(other.isum);
        self.imin = self.imin.min(other.imin);
        self.imax = self.imax.max(other.imax);
    }

    fn value(&self, op: AggOp, int: bool) -> Value {
        match op {
            AggOp::Count => Value::Int(self.n as i64),
            AggOp::Sum if int => Value::Int(self.isum),
            AggOp::Sum => Value::Float(self.sum),
            _ if self.n == 0 => Value::Null,
            AggOp::Min if int => Value::Int(self.imin),
            AggOp::Max if int => Value::Int(self.imax),
            AggOp::Min => Value::Float(self.min),
            AggOp::Max => Value::Float(self.max),
            AggOp::Mean => Value::Float(self.sum / self.n as f64),
        }
    }
}

/// What one output aggregate reads: nothing (a row count), a number, or any non-empty field.
#[derive(Clone)]
enum Input {
    Rows,
    Number(Column),
    Present(Column),
}

/// Filters, keys and aggregations of a job, resolved against a header. Cloned once per thread.
#[derive(Clone)]
pub struct Plan {
    filters: Vec<RowFilter>,
    keys: Vec<Column>,
    inputs: Vec<(Input, AggOp)>,
    empty_is_null: bool,
    /// The highest column index the plan reads: a row needs this many fields, plus one.
    pub last_column: usize,
}

impl Plan {
    pub fn new(job: &CsvJob, header: &[String]) -> Result<Self> {
        let filters = job
            .filters
            .iter()
            .map(|f| RowFilter::compile(job, f, header))
            .collect::<Result<Vec<_>>>()?;
        let keys = job
            .group_by
            .iter()
            .map(|c| Column::new(job, header, c, "group_by"))
            .collect::<Result<Vec<_>>>()?;
        let mut inputs = Vec::new();
        for agg in &job.aggregations {
            let input = match &agg.column {
                None => Input::Rows,
                Some(c) => {
                    let column = Column::new(job, header, c, "aggregations")?;
                    match (agg.op, column.kind) {
                        (AggOp::Count, Kind::Text | Kind::Bool | Kind::Auto) => {
                            Input::Present(column)
                        }
                        (_, Kind::Text | Kind::Bool) => {
                            return Err(NativeError::Invalid(format!(
                                "aggregation '{}' of '{c}' needs a number column, '{c}' is {:?}",
                                agg.op.name(),
                                column.kind
                            )))
                        }
                        _ => Input::Number(column),
                    }
                }
            };
            inputs.push((input, agg.op));
        }
        let indices = filters.iter().map(|f| f.column.index);
        let indices = indices.chain(keys.iter().map(|k| k.index));
        let indices = indices.chain(inputs.iter().filter_map(|(input, _)| match input {
            Input::Rows => None,
            Input::Number(c) | Input::Present(c) => Some(c.index),
        }));
        let last_column = indices.max().unwrap_or(0);
        Ok(Self {
            filters,
            keys,
            inputs,
            empty_is_null: job.empty_is_null,
            last_column,
        })
    }

    /// Whether a row passes every filter (AND).
    pub fn keep(&self, row: &impl Row) -> Parsed<bool> {
        for filter in &self.filters {
            if !filter.matches(row.field(filter.column.index), self.empty_is_null)? {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// Groups and their accumulators, keyed by the encoded key bytes.
#[derive(Clone)]
pub struct Fold {
    plan: Plan,
    index: FxHashMap<Box<[u8]>, usize>,
    accs: Vec<Acc>,
    key: Vec<u8>,
}

const NULL_KEY: u32 = u32::MAX;

impl Fold {
    pub fn new(plan: Plan) -> Self {
        Self {
            plan,
            index: FxHashMap::default(),
            accs: Vec::new(),
            key: Vec::new(),
        }
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// How many groups the fold holds.
    pub fn groups(&self) -> usize {
        self.index.len()
    }

    /// The key of a row: the field itself for one text key; otherwise each key as a
    /// length-prefixed value (`NULL_KEY` for null), typed keys written by value.
    fn encode_key(&mut self, row: &impl Row) -> Parsed<()> {
        self.key.clear();
        if let [only] = &self.plan.keys[..] {
            if matches!(only.kind, Kind::Auto | Kind::Text) {
                self.key.extend_from_slice(row.field(only.index));
                return Ok(());
            }
        }
        for column in &self.plan.keys {
            let field = row.field(column.index);
            let null = field.is_empty() && (self.plan.empty_is_null || column.kind != Kind::Auto);
            if null {
                self.key.extend_from_slice(&NULL_KEY.to_le_bytes());
                continue;
            }
            let text = match column.kind {
                Kind::Auto | Kind::Text => None,
                Kind::Bool => Some(column.boolean(field)?.unwrap_or(false).to_string()),
                _ => match column.number(field)? {
                    Some(Number::Int(i)) => Some(i.to_string()),
                    Some(Number::Float(f)) => Some(f.to_string()),
                    None => None,
                },
            };
            let bytes = text.as_ref().map_or(field, |t| t.as_bytes());
            self.key
                .extend_from_slice(&(bytes.len() as u32).to_le_bytes());
            self.key.extend_from_slice(bytes);
        }
        Ok(())
    }

    fn decode_key(&self, key: &[u8]) -> Vec<Option<String>> {
        let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
        if let [only] = &self.plan.keys[..] {
            if matches!(only.kind, Kind::Auto | Kind::Text) {
                let null = key.is_empty() && self.plan.empty_is_null;
                return vec![(!null).then(|| text(key))];
            }
        }
        let mut parts = Vec::with_capacity(self.plan.keys.len());
        let mut rest = key;
        while rest.len() >= 4 {
            let n = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
            if n == NULL_KEY {
                parts.push(None);
                rest = &rest[4..];
                continue;
            }
            let n = n as usize;
            parts.push(Some(text(&rest[4..4 + n])));
            rest = &rest[4 + n..];
        }
        parts
    }

    /// Fold a row that passed the filters into its group.
    pub fn accept(&mut self, row: &impl Row) -> Parsed<()> {
        self.encode_key(row)?;
        let width = self.plan.inputs.len();
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
        for (acc, (input, _)) in accs.iter_mut().zip(&self.plan.inputs) {
            match input {
                Input::Rows => acc.n += 1,
                Input::Present(column) => {
                    let field = row.field(column.index);
                    if column.kind == Kind::Bool {
                        column.boolean(field)?;
                    }
                    acc.n += u64::from(!field.is_empty());
                }
                Input::Number(column) => {
                    if let Some(value) = column.number(row.field(column.index))? {
                        acc.add(value);
                    }
                }
            }
        }
        Ok(())
    }

    /// Add another fold's groups (of the same plan) into this one.
    pub fn merge(&mut self, other: Fold) {
        let width = self.plan.inputs.len();
        for (key, g) in other.index {
            let theirs = &other.accs[g * width..(g + 1) * width];
            let next = self.index.len();
            let mine = *self.index.entry(key).or_insert(next);
            if mine == next {
                self.accs.extend_from_slice(theirs);
                continue;
            }
            for (acc, their) in self.accs[mine * width..(mine + 1) * width]
                .iter_mut()
                .zip(theirs)
            {
                acc.merge(their);
            }
        }
    }

    /// The groups as rows of keys and values, sorted by key (null first).
    pub fn rows(&self) -> Vec<(Vec<Option<String>>, Vec<Value>)> {
        let width = self.plan.inputs.len();
        let mut rows: Vec<(Vec<Option<String>>, usize)> = self
            .index
            .iter()
            .map(|(k, &g)| (self.decode_key(k), g))
            .collect();
        rows.sort_unstable();
        rows.into_iter()
            .map(|(key, g)| {
                let accs = &self.accs[g * width..(g + 1) * width];
                let values = accs
                    .iter()
                    .zip(&self.plan.inputs)
                    .map(|(acc, (input, op))| {
                        let int = matches!(input, Input::Number(c) if c.kind == Kind::Int);
                        acc.value(*op, int)
                    })
                    .collect();
                (key, values)
            })
            .collect()
    }
}
