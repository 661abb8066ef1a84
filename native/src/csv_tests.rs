//! Unit tests of the streaming CSV core on small files written to the temp folder.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::control::{Control, NoControl};
use crate::csv_job::{Aggregation, CsvJob, Filter, Operand, Value};
use crate::csv_run::run;
use crate::error::NativeError;

fn temp(name: &str, text: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("atomiton-csv-{}-{name}", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

const SALES: &str = "region,product,amount\nnorth,\"apple, red\",10\nsouth,pear,5.5\nnorth,pear,\nnorth,\"apple, red\",2\n";

#[test]
fn numeric_filter_copies_matching_rows_with_quotes_intact() {
    let input = temp("copy.csv", SALES);
    let output = temp("copy-out.csv", "");
    let mut job = CsvJob::new(&input);
    job.output = Some(output.clone());
    job.filters
        .push(Filter::new("amount", ">=", Operand::Number(5.0)).unwrap());
    let summary = run(&job, &NoControl).unwrap();
    assert_eq!(
        (summary.rows_read, summary.rows_matched, summary.groups),
        (4, 2, None)
    );
    let written = std::fs::read_to_string(output).unwrap();
    assert_eq!(
        written,
        "region,product,amount\nnorth,\"apple, red\",10\nsouth,pear,5.5\n"
    );
}

#[test]
fn group_by_aggregates_skip_empty_values() {
    let input = temp("group.csv", SALES);
    let mut job = CsvJob::new(&input);
    job.group_by = vec!["region".into(), "product".into()];
    for op in ["count", "sum", "min", "max", "mean"] {
        job.aggregations
            .push(Aggregation::new(Some("amount"), op, None).unwrap());
    }
    job.aggregations
        .push(Aggregation::new(None, "count", Some("rows")).unwrap());
    let summary = run(&job, &NoControl).unwrap();
    assert_eq!(summary.groups, Some(3));
    let (key, values) = &summary.group_rows[0];
    assert_eq!(key, &[Some("north".into()), Some("apple, red".into())]);
    use Value::*;
    assert_eq!(
        values,
        &[
            Int(2),
            Float(12.0),
            Float(2.0),
            Float(10.0),
            Float(6.0),
            Int(2)
        ]
    );
    let (key, values) = &summary.group_rows[1];
    assert_eq!(key, &[Some("north".into()), Some("pear".into())]);
    assert_eq!(values, &[Int(0), Float(0.0), Null, Null, Null, Int(1)]);
}

#[test]
fn text_filters_compare_strings() {
    let input = temp("text.csv", SALES);
    let mut job = CsvJob::new(&input);
    job.filters
        .push(Filter::new("product", "contains", Operand::Text("apple".into())).unwrap());
    job.filters
        .push(Filter::new("region", "!=", Operand::Text("south".into())).unwrap());
    assert_eq!(run(&job, &NoControl).unwrap().rows_matched, 2);
}

#[test]
fn bad_number_names_line_row_and_column() {
    let input = temp("bad.csv", "id,amount\n1,3\n2,abc\n");
    let mut job = CsvJob::new(&input);
    job.aggregations
        .push(Aggregation::new(Some("amount"), "sum", None).unwrap());
    let err = run(&job, &NoControl).unwrap_err().to_string();
    assert_eq!(
        err,
        "line 3 (data row 2), column 'amount': expected a number, got 'abc'"
    );
}

#[test]
fn unknown_column_lists_the_available_ones() {
    let input = temp("unknown.csv", SALES);
    let mut job = CsvJob::new(&input);
    job.group_by = vec!["country".into()];
    let err = run(&job, &NoControl).unwrap_err().to_string();
    assert_eq!(
        err,
        "unknown column 'country' in group_by; available columns: region, product, amount"
    );
}

#[test]
fn headerless_files_name_columns_by_position() {
    let input = temp("nohead.csv", "a,1\nb,2\na,3\n");
    let mut job = CsvJob::new(&input);
    job.has_header = false;
    job.group_by = vec!["column_1".into()];
    job.aggregations
        .push(Aggregation::new(Some("column_2"), "sum", None).unwrap());
    let summary = run(&job, &NoControl).unwrap();
    assert_eq!(summary.rows_read, 3);
    assert_eq!(
        summary.group_rows[0],
        (vec![Some("a".to_string())], vec![Value::Float(4.0)])
    );
}

#[test]
fn ragged_rows_are_reported_with_their_line() {
    let input = temp("ragged.csv", "a,b\n1,2\n3\n");
    let err = run(&CsvJob::new(&input), &NoControl)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("line 3: expected 2 fields (as in the header), found 1"),
        "{err}"
    );
}

struct CancelAt(AtomicBool);

impl Control for CancelAt {
    fn cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    fn progress(&self, _percent: f64, _message: &str) {}
}

#[test]
fn a_set_cancel_flag_stops_the_pass() {
    let text: String = std::iter::once("n\n".to_string())
        .chain((0..40_000).map(|i| format!("{i}\n")))
        .collect();
    let input = temp("long.csv", &text);
    let err = run(&CsvJob::new(&input), &CancelAt(AtomicBool::new(true))).unwrap_err();
    assert!(
        matches!(err, NativeError::Cancelled { rows_read: 16384 }),
        "{err}"
    );
}
