//! A batch of changes as a CSV file: a header row, then one row per record, or one per line
//! item (a record without lines still gets one row). Pure.

use super::spec::CsvTarget;
use super::value::{self, At, Batch, Problem, Record};

/// Write the records; a record any of whose values cannot be written is left out whole, with
/// its problems.
pub(crate) fn write(
    target: &CsvTarget,
    records: &[Result<Record<'_>, Problem>],
    batch: Batch<'_>,
) -> (Vec<u8>, Vec<bool>, Vec<(usize, Problem)>) {
    let mut writer = csv::WriterBuilder::new()
        .delimiter(target.delimiter)
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    let mut problems = Vec::new();
    let mut written = vec![false; records.len()];
    let mut rows: Vec<Vec<String>> = Vec::new();
    if target.header {
        let header: Vec<&str> = target.columns.iter().map(|(h, _)| h.as_str()).collect();
        // Writing to a Vec cannot fail.
        let _ = writer.write_record(&header);
    }
    let mut index = 0;
    for (i, record) in records.iter().enumerate() {
        let record = match record {
            Ok(r) => r,
            Err(p) => {
                problems.push((i, p.clone()));
                continue;
            }
        };
        rows.clear();
        let mut bad = Vec::new();
        let lines: Vec<Option<(usize, &serde_json::Value)>> =
            if target.rows_per_line && !record.lines().is_empty() {
                record
                    .lines()
                    .iter()
                    .enumerate()
                    .map(|(n, l)| Some((n + 1, l)))
                    .collect()
            } else {
                vec![None]
            };
        for line in lines {
            let at = At {
                record: Some(record),
                record_index: index + 1,
                line,
                set_records: &[],
                records_written: index,
                hl_written: 0,
                batch,
            };
            let mut row = Vec::with_capacity(target.columns.len());
            for (_, spec) in &target.columns {
                match value::render(spec, &at) {
                    Ok(v) => row.push(v),
                    Err(p) => {
                        if !bad.contains(&p) {
                            bad.push(p);
                        }
                        row.push(String::new());
                    }
                }
            }
            rows.push(row);
        }
        if bad.is_empty() {
            for row in &rows {
                let _ = writer.write_record(row);
            }
            written[i] = true;
            index += 1;
        } else {
            problems.extend(bad.into_iter().map(|p| (i, p)));
        }
    }
    let bytes = writer.into_inner().unwrap_or_default();
    (bytes, written, problems)
}
