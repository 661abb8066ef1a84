//! What `process_large_csv` is asked to do: a filter, an optional group-by and aggregations.
//!
//! These types are plain data, built by the Python bindings from a node's parameters and by the
//! unit tests directly. Column names are resolved against the file's header in `csv_run`.

use std::path::PathBuf;

use crate::error::{NativeError, Result};

/// A comparison operator of a row filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Contains,
}

impl CompareOp {
    pub const NAMES: &'static str = "==, !=, <, <=, >, >=, contains";

    pub fn parse(text: &str) -> Result<Self> {
        Ok(match text.trim() {
            "==" | "=" | "eq" => Self::Eq,
            "!=" | "<>" | "ne" => Self::Ne,
            "<" | "lt" => Self::Lt,
            "<=" | "le" => Self::Le,
            ">" | "gt" => Self::Gt,
            ">=" | "ge" => Self::Ge,
            "contains" => Self::Contains,
            other => {
                return Err(NativeError::Invalid(format!(
                    "unknown filter operator '{other}'; expected one of: {}",
                    Self::NAMES
                )))
            }
        })
    }

    /// Apply the operator to an ordering of field versus operand.
    pub fn holds(self, ordering: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self {
            Self::Eq => ordering == Equal,
            Self::Ne => ordering != Equal,
            Self::Lt => ordering == Less,
            Self::Le => ordering != Greater,
            Self::Gt => ordering == Greater,
            Self::Ge => ordering != Less,
            Self::Contains => unreachable!("contains is not an ordering comparison"),
        }
    }
}

/// The right-hand side of a filter: a number compares numerically, text compares as strings, a
/// boolean compares with `true` / `false` fields (false before true).
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    Number(f64),
    /// An integer compares exactly with an `Int` column (as a float with any other).
    Int(i64),
    Bool(bool),
    Text(String),
}

impl Operand {
    pub fn is_number(&self) -> bool {
        matches!(self, Self::Number(_) | Self::Int(_))
    }
}

/// How a column's fields are read. `Auto` (every column the caller did not type) reads numbers
/// as floats after trimming blanks and compares text as it is; the typed kinds read fields the
/// way polars reads a column of that dtype: no trimming, integers exactly, booleans as
/// `true` / `false` in any case, and group keys by value (`007` and `7` are one key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Auto,
    Int,
    Float,
    Bool,
    Text,
}

impl Kind {
    pub const NAMES: &'static str = "int, float, bool, str";

    pub fn parse(text: &str) -> Result<Self> {
        Ok(match text.trim().to_ascii_lowercase().as_str() {
            "int" | "integer" => Self::Int,
            "float" | "number" => Self::Float,
            "bool" | "boolean" => Self::Bool,
            "str" | "string" | "text" => Self::Text,
            other => {
                return Err(NativeError::Invalid(format!(
                    "unknown column type '{other}'; expected one of: {}",
                    Self::NAMES
                )))
            }
        })
    }
}

/// Keep rows where `column op value`. Several filters are combined with AND.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    pub column: String,
    pub op: CompareOp,
    pub value: Operand,
}

impl Filter {
    pub fn new(column: &str, op: &str, value: Operand) -> Result<Self> {
        let op = CompareOp::parse(op)?;
        if op == CompareOp::Contains && !matches!(value, Operand::Text(_)) {
            return Err(NativeError::Invalid(format!(
                "filter on '{column}': 'contains' needs a text value, got {value:?}"
            )));
        }
        Ok(Self {
            column: column.to_string(),
            op,
            value,
        })
    }
}

/// An aggregation function over one numeric column (or over rows, for `count`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggOp {
    Count,
    Sum,
    Min,
    Max,
    Mean,
}

impl AggOp {
    pub const NAMES: &'static str = "count, sum, min, max, mean";

    pub fn parse(text: &str) -> Result<Self> {
        Ok(match text.trim().to_ascii_lowercase().as_str() {
            "count" => Self::Count,
            "sum" => Self::Sum,
            "min" => Self::Min,
            "max" => Self::Max,
            "mean" | "avg" | "average" => Self::Mean,
            other => {
                return Err(NativeError::Invalid(format!(
                    "unknown aggregation '{other}'; expected one of: {}",
                    Self::NAMES
                )))
            }
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Count => "count",
            Self::Sum => "sum",
            Self::Min => "min",
            Self::Max => "max",
            Self::Mean => "mean",
        }
    }
}

/// One output column of a group-by: `op(column)`, named `alias` (default `column_op`).
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregation {
    /// None only for `count`, which then counts rows; with a column it counts non-empty values.
    pub column: Option<String>,
    pub op: AggOp,
    pub alias: String,
}

impl Aggregation {
    pub fn new(column: Option<&str>, op: &str, alias: Option<&str>) -> Result<Self> {
        let op = AggOp::parse(op)?;
        if column.is_none() && op != AggOp::Count {
            return Err(NativeError::Invalid(format!(
                "aggregation '{}' needs a 'column' (only 'count' may omit it)",
                op.name()
            )));
        }
        let alias = match (alias, column) {
            (Some(alias), _) => alias.to_string(),
            (None, Some(column)) => format!("{column}_{}", op.name()),
            (None, None) => "count".to_string(),
        };
        Ok(Self {
            column: column.map(str::to_string),
            op,
            alias,
        })
    }
}

/// The whole job. With `group_by` or `aggregations` the output is one row per group (a single
/// group when `group_by` is empty); otherwise it is a filtered copy of the input rows.
#[derive(Debug, Clone)]
pub struct CsvJob {
    pub path: PathBuf,
    pub output: Option<PathBuf>,
    pub delimiter: u8,
    pub has_header: bool,
    pub filters: Vec<Filter>,
    pub group_by: Vec<String>,
    pub aggregations: Vec<Aggregation>,
    /// Keep the group rows in memory to return them (they are always written to `output`).
    pub collect_groups: bool,
    /// Column types; a column not named here is `Kind::Auto`.
    pub kinds: Vec<(String, Kind)>,
    /// Read an empty field as a missing value everywhere (polars' rule): it matches no text
    /// filter and makes a null group key. Otherwise an empty text field is the empty string.
    pub empty_is_null: bool,
    /// Threads of the parallel pass; 0: one per core.
    pub threads: usize,
    /// The parallel pass hands the file back once a thread holds more groups than this (0: no
    /// limit): a caller with a faster engine for many groups uses it there.
    pub max_groups: usize,
    /// When the parallel pass cannot run the file (quotes, ragged rows, a field that is not of its
    /// column's type), run the sequential one (true) or fail with `NativeError::Unsupported`.
    pub fallback: bool,
}

impl CsvJob {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            output: None,
            delimiter: b',',
            has_header: true,
            filters: Vec::new(),
            group_by: Vec::new(),
            aggregations: Vec::new(),
            collect_groups: true,
            kinds: Vec::new(),
            empty_is_null: false,
            threads: 0,
            max_groups: 0,
            fallback: true,
        }
    }

    pub fn kind(&self, column: &str) -> Kind {
        self.kinds
            .iter()
            .find(|(name, _)| name == column)
            .map_or(Kind::Auto, |(_, kind)| *kind)
    }

    pub fn aggregates(&self) -> bool {
        !self.group_by.is_empty() || !self.aggregations.is_empty()
    }
}

/// One aggregated value: counts, and sums, minima and maxima of `Int` columns, are integers; the
/// rest floats; Null when no value was seen.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(i64),
    Float(f64),
    Null,
}

/// What the job did.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub rows_read: u64,
    pub rows_matched: u64,
    /// The number of groups, when the job aggregated.
    pub groups: Option<u64>,
    pub output: Option<PathBuf>,
    /// The columns of the output (the input header for a filtered copy).
    pub columns: Vec<String>,
    /// Group rows (keys, None for a null key, then aggregates), sorted by key, when collected.
    pub group_rows: Vec<(Vec<Option<String>>, Vec<Value>)>,
    /// Which pass ran: "parallel" (unquoted files, one thread per core) or "sequential".
    pub pass: &'static str,
    /// The threads that read the file.
    pub threads: usize,
    pub elapsed_s: f64,
}
