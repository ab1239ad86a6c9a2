//! Responses in the formats certifiers use: CSV and XLSX (the questionnaire is a spreadsheet)
//! and JSON. Columns: requirement, response (`C`/`P`/`N`/`NA` or the words), evidence reference,
//! justification. Errors name the row and the column.

use std::collections::HashSet;

use serde::Deserialize;

use super::budget::{self, Limit, OverBudget, SparseTable, UploadBudget};
use super::{AssessmentError, Catalogue};

/// An answer to one requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Answer {
    /// Compliant.
    Compliant,
    /// Partially compliant.
    PartiallyCompliant,
    /// Non-compliant.
    NonCompliant,
    /// Not applicable.
    NotApplicable,
}

impl Answer {
    /// Reads an answer, tolerant of case, spacing and the spelled-out words.
    pub fn parse(text: &str) -> Option<Self> {
        let normal: String = text
            .trim()
            .to_ascii_lowercase()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect();
        match normal.as_str() {
            "c" | "compliant" | "yes" | "y" | "met" => Some(Self::Compliant),
            "p" | "partial" | "partially" | "partiallycompliant" => Some(Self::PartiallyCompliant),
            "n" | "nc" | "noncompliant" | "notcompliant" | "no" => Some(Self::NonCompliant),
            "na" | "notapplicable" => Some(Self::NotApplicable),
            _ => None,
        }
    }

    /// Short code: `C`, `P`, `N`, `NA`.
    pub fn code(self) -> &'static str {
        match self {
            Self::Compliant => "C",
            Self::PartiallyCompliant => "P",
            Self::NonCompliant => "N",
            Self::NotApplicable => "NA",
        }
    }

    /// The answer of a short code (`C`, `P`, `N`, `NA`, exactly), as stored.
    pub fn from_code(code: &str) -> Option<Self> {
        [
            Self::Compliant,
            Self::PartiallyCompliant,
            Self::NonCompliant,
            Self::NotApplicable,
        ]
        .into_iter()
        .find(|a| a.code() == code)
    }

    /// Value in the canonical record: 1 C, 2 P, 3 N, 4 NA.
    pub fn record_value(self) -> u64 {
        match self {
            Self::Compliant => 1,
            Self::PartiallyCompliant => 2,
            Self::NonCompliant => 3,
            Self::NotApplicable => 4,
        }
    }
}

/// Stored and answered as its short code (`C`, `P`, `N`, `NA`); reading accepts only those.
impl serde::Serialize for Answer {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Answer {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::from_code(&code).ok_or_else(|| {
            serde::de::Error::custom(format!("{code:?} is not an answer code (C, P, N, NA)"))
        })
    }
}

/// One response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The requirement's id.
    pub requirement: String,
    /// The answer.
    pub answer: Answer,
    /// Evidence reference (trimmed; `None` if blank).
    pub evidence: Option<String>,
    /// Justification or rationale (trimmed; `None` if blank).
    pub justification: Option<String>,
    /// Set when the response was pre-filled from another framework's assessment through the
    /// crosswalk (`spec/frameworks.md` 8): it meets its row only once confirmed.
    pub carried_over: Option<CarriedOver>,
    /// Where the response is in its file, for errors: the CSV line or the spreadsheet row (the
    /// header is row 1), or the position in the JSON `responses` array (from 1); 0 if it was not
    /// read from a file. Not part of the assessment record.
    pub row: usize,
}

/// Where a pre-filled response came from, and whether the certifier has confirmed it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CarriedOver {
    /// The earlier assessment's rows it rests on: `"<framework> <release>: <id>, <id>"`.
    pub from: String,
    /// The published source of the link: `"<source id>: <group or link note>"`.
    pub source: String,
    /// Whether the certifier has confirmed the response for this framework. Until then it
    /// does not meet its row (`Unmet::NotConfirmed`).
    pub confirmed: bool,
}

/// Which file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponsesFormat {
    /// Comma-separated values with a header row.
    Csv,
    /// An Excel workbook; the first sheet, with a header row.
    Xlsx,
    /// `{"responses": [...]}` or a bare array of `{requirement, response, evidence,
    /// justification}`.
    Json,
}

impl ResponsesFormat {
    /// The format of a file name, by extension.
    pub fn from_file_name(name: &str) -> Option<Self> {
        let lower = name.to_ascii_lowercase();
        [
            (".csv", Self::Csv),
            (".xlsx", Self::Xlsx),
            (".json", Self::Json),
        ]
        .into_iter()
        .find(|(ext, _)| lower.ends_with(ext))
        .map(|(_, f)| f)
    }
}

/// The four columns, found by header name.
#[derive(Debug, Clone, Copy)]
struct Columns {
    requirement: usize,
    response: usize,
    evidence: Option<usize>,
    justification: Option<usize>,
}

fn column_kind(header: &str) -> Option<&'static str> {
    let h: String = header
        .trim()
        .to_ascii_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    match h.as_str() {
        "requirement" | "requirementid" | "req" | "id" | "ref" | "provision" => Some("requirement"),
        "response" | "answer" | "compliance" | "status" | "result" => Some("response"),
        "evidence" | "evidencereference" | "evidenceref" => Some("evidence"),
        "justification" | "rationale" | "comment" | "comments" => Some("justification"),
        _ => None,
    }
}

fn columns(headers: &[String]) -> Result<Columns, AssessmentError> {
    let find = |kind: &str| headers.iter().position(|h| column_kind(h) == Some(kind));
    let missing = |column: &str| {
        AssessmentError::Responses {
        row: 1,
        column: column.to_owned(),
        reason: "header row has no such column (expected: requirement, response, evidence, justification)".into(),
    }
    };
    Ok(Columns {
        requirement: find("requirement").ok_or_else(|| missing("requirement"))?,
        response: find("response").ok_or_else(|| missing("response"))?,
        evidence: find("evidence"),
        justification: find("justification"),
    })
}

fn blank_to_none(text: &str) -> Option<String> {
    let t = text.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

/// Turns table rows (header first; `row_number` of the first data row is 2) into responses.
fn from_table(
    headers: &[String],
    rows: impl Iterator<Item = (usize, Vec<String>)>,
    column_name: impl Fn(usize) -> String,
) -> Result<Vec<Response>, AssessmentError> {
    let cols = columns(headers)?;
    let mut out = Vec::new();
    for (row, cells) in rows {
        let cell = |i: usize| cells.get(i).map(String::as_str).unwrap_or("");
        if cells.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        let requirement = cell(cols.requirement).trim().to_owned();
        if requirement.is_empty() {
            return Err(AssessmentError::Responses {
                row,
                column: column_name(cols.requirement),
                reason: "no requirement id".into(),
            });
        }
        let answer = Answer::parse(cell(cols.response)).ok_or_else(|| AssessmentError::Responses {
            row,
            column: column_name(cols.response),
            reason: format!(
                "{:?} is not a response (use C, P, N or NA, or Compliant, Partially compliant, Non-compliant, Not applicable)",
                cell(cols.response)
            ),
        })?;
        out.push(Response {
            row,
            requirement,
            answer,
            evidence: cols.evidence.and_then(|i| blank_to_none(cell(i))),
            justification: cols.justification.and_then(|i| blank_to_none(cell(i))),
            carried_over: None,
        });
    }
    Ok(out)
}

/// Parses CSV responses under `budget`.
pub fn from_csv(bytes: &[u8], budget: &UploadBudget) -> Result<Vec<Response>, AssessmentError> {
    budget.check(Limit::FileBytes, bytes.len() as u64, || "file".into())?;
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| csv_error(&e, 1))?
        .iter()
        .map(str::to_owned)
        .collect();
    check_row(budget, 1, &headers)?;
    let mut rows = Vec::new();
    let mut cells = headers.iter().filter(|c| !c.is_empty()).count() as u64;
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| csv_error(&e, i + 2))?;
        // The line the record starts on: blank lines and multi-line fields count.
        let line = record
            .position()
            .map_or(i + 2, |p| usize::try_from(p.line()).unwrap_or(usize::MAX));
        // Records, not only lines: a record may end at a lone carriage return, which does
        // not advance the line count (the fuzzer found 64+ records on "line 1").
        let row_count = line.max(i + 2) as u64;
        budget.check(Limit::Rows, row_count, || {
            format!("line {line}, record {}", i + 1)
        })?;
        let row: Vec<String> = record.iter().map(str::to_owned).collect();
        check_row(budget, line, &row)?;
        cells += row.iter().filter(|c| !c.is_empty()).count() as u64;
        budget.check(Limit::Cells, cells, || format!("line {line}"))?;
        rows.push((line, row));
    }
    let names = headers.clone();
    from_table(&headers, rows.into_iter(), move |i| {
        names
            .get(i)
            .cloned()
            .unwrap_or_else(|| format!("column {}", i + 1))
    })
}

/// The column and cell-length budgets of one CSV row.
fn check_row(budget: &UploadBudget, line: usize, row: &[String]) -> Result<(), OverBudget> {
    budget.check(Limit::Columns, row.len() as u64, || format!("line {line}"))?;
    for (i, cell) in row.iter().enumerate() {
        budget.check_cell(cell, || format!("line {line}, column {}", i + 1))?;
    }
    Ok(())
}

fn csv_error(e: &csv::Error, row: usize) -> AssessmentError {
    AssessmentError::Responses {
        row: e.position().map_or(row, |p| p.line() as usize),
        column: "-".into(),
        reason: format!("not valid CSV: {e}"),
    }
}

/// Spreadsheet column letters of a zero-based index (0 -> A, 26 -> AA).
fn column_letters(mut index: usize) -> String {
    let mut letters = Vec::new();
    loop {
        letters.push(b'A' + (index % 26) as u8);
        if index < 26 {
            break;
        }
        index = index / 26 - 1;
    }
    letters.reverse();
    String::from_utf8(letters).unwrap_or_default()
}

/// Parses the first sheet of an XLSX workbook under `budget`: the archive is checked part by
/// part before it is opened (`spec/assessment.md` 2.8), and the sheet is read cell by cell
/// into a sparse table, so neither a zip bomb nor a cell at row 1 048 576 costs more than the
/// budget.
pub fn from_xlsx(bytes: &[u8], budget: &UploadBudget) -> Result<Vec<Response>, AssessmentError> {
    use calamine::{Data, Reader as _};
    let unreadable = |reason: String| AssessmentError::Responses {
        row: 0,
        column: "-".into(),
        reason,
    };
    budget.check(Limit::FileBytes, bytes.len() as u64, || "file".into())?;
    budget::check_archive(bytes, budget).map_err(|e| match e {
        budget::ArchiveRefused::OverBudget(e) => AssessmentError::OverBudget(e),
        budget::ArchiveRefused::Unreadable(reason) => {
            unreadable(format!("not a readable XLSX workbook: {reason}"))
        }
    })?;
    let mut workbook: calamine::Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(bytes))
            .map_err(|e| unreadable(format!("not a readable XLSX workbook: {e}")))?;
    let sheet = workbook
        .sheet_names()
        .into_iter()
        .next()
        .ok_or_else(|| unreadable("the workbook has no sheet".into()))?;
    let mut cells = workbook
        .worksheet_cells_reader(&sheet)
        .map_err(|e| unreadable(format!("first sheet unreadable: {e}")))?;
    let text = |cell: Data| match cell {
        Data::Empty => String::new(),
        Data::Float(f) if f.fract() == 0.0 => format!("{f:.0}"),
        other => other.to_string(),
    };
    let mut table = SparseTable::default();
    while let Some(cell) = cells
        .next_cell()
        .map_err(|e| unreadable(format!("first sheet unreadable: {e}")))?
    {
        let (row, column) = cell.get_position();
        let at = || {
            format!(
                "cell {}{}",
                column_letters(column as usize),
                u64::from(row) + 1
            )
        };
        table.add(
            budget,
            (row, column),
            text(cell.get_value().clone().into()),
            at,
        )?;
    }
    let mut rows = table.into_rows();
    let headers = rows.next().map(|(_, cells)| cells).unwrap_or_default();
    from_table(&headers, rows, column_letters)
}

/// Responses read from a file, with the framework and target class if the file names them (a
/// saved assessment does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponsesFile {
    /// The framework, if the file says.
    pub framework: Option<String>,
    /// The framework's release, if the file says.
    pub release: Option<String>,
    /// The target class, if the file says.
    pub target_class: Option<u8>,
    /// The responses.
    pub responses: Vec<Response>,
}

/// Parses JSON responses under `budget` (`spec/assessment.md` 2.5).
pub fn from_json(bytes: &[u8], budget: &UploadBudget) -> Result<ResponsesFile, AssessmentError> {
    budget.check(Limit::FileBytes, bytes.len() as u64, || "file".into())?;
    let doc = super::json::read(bytes, budget)?;
    let mut responses = Vec::with_capacity(doc.responses.len());
    for (i, r) in doc.responses.into_iter().enumerate() {
        let row = i + 1;
        for (column, text) in [
            ("requirement", Some(&r.requirement)),
            ("response", Some(&r.response)),
            ("evidence", r.evidence.as_ref()),
            ("justification", r.justification.as_ref()),
            (
                "carried_over.from",
                r.carried_over.as_ref().map(|c| &c.from),
            ),
            (
                "carried_over.source",
                r.carried_over.as_ref().map(|c| &c.source),
            ),
        ] {
            if let Some(text) = text {
                budget.check_cell(text, || format!("responses[{i}].{column}"))?;
            }
        }
        let answer = Answer::parse(&r.response).ok_or_else(|| AssessmentError::Responses {
            row,
            column: "response".into(),
            reason: format!("{:?} is not a response (use C, P, N or NA)", r.response),
        })?;
        responses.push(Response {
            row,
            requirement: r.requirement.trim().to_owned(),
            answer,
            evidence: r.evidence.as_deref().and_then(blank_to_none),
            justification: r.justification.as_deref().and_then(blank_to_none),
            carried_over: r.carried_over,
        });
    }
    Ok(ResponsesFile {
        framework: doc.framework,
        release: doc.release,
        target_class: doc.target_class,
        responses,
    })
}

/// Parses a responses file in the given format, under `budget`.
pub fn parse(
    bytes: &[u8],
    format: ResponsesFormat,
    budget: &UploadBudget,
) -> Result<ResponsesFile, AssessmentError> {
    let table = |responses| ResponsesFile {
        framework: None,
        release: None,
        target_class: None,
        responses,
    };
    match format {
        ResponsesFormat::Csv => from_csv(bytes, budget).map(table),
        ResponsesFormat::Xlsx => from_xlsx(bytes, budget).map(table),
        ResponsesFormat::Json => from_json(bytes, budget),
    }
}

/// A saved assessment (`spec/assessment.md` 2.5): the framework, its release, the target class
/// and the responses in order, each answer as its code and blank texts `null`; a carried-over
/// response keeps its `carried_over`. `from_json` reads it back to the same record.
pub fn saved(catalogue: &Catalogue, target_class: u8, responses: &[Response]) -> serde_json::Value {
    serde_json::json!({
        "framework": catalogue.id,
        "release": catalogue.mark_version,
        "target_class": target_class,
        "responses": responses.iter().map(|r| {
            let mut out = serde_json::json!({
                "requirement": r.requirement,
                "response": r.answer.code(),
                "evidence": r.evidence,
                "justification": r.justification,
            });
            if let Some(carried) = &r.carried_over {
                out["carried_over"] = serde_json::json!(carried);
            }
            out
        }).collect::<Vec<_>>(),
    })
}

/// Checks responses against a catalogue: every id known and not reserved, none twice. Errors
/// name the response's row in its file ([`Response::row`]).
pub fn check_against(catalogue: &Catalogue, responses: &[Response]) -> Result<(), AssessmentError> {
    let mut seen = HashSet::new();
    for r in responses {
        let bad = |reason: String| AssessmentError::Responses {
            row: r.row,
            column: "requirement".into(),
            reason,
        };
        let Some(requirement) = catalogue.requirement(&r.requirement) else {
            return Err(bad(format!(
                "{:?} is not a requirement of {} {}",
                r.requirement, catalogue.id, catalogue.version
            )));
        };
        if requirement.applicability == super::Applicability::Reserved {
            return Err(bad(format!("{} is a reserved (blank) row", r.requirement)));
        }
        if !seen.insert(r.requirement.as_str()) {
            return Err(bad(format!("{} is answered twice", r.requirement)));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_tolerantly() {
        for (text, answer) in [
            ("C", Answer::Compliant),
            (" compliant ", Answer::Compliant),
            ("Partially compliant", Answer::PartiallyCompliant),
            ("P", Answer::PartiallyCompliant),
            ("Non-compliant", Answer::NonCompliant),
            ("n", Answer::NonCompliant),
            ("N/A", Answer::NotApplicable),
            ("Not applicable", Answer::NotApplicable),
        ] {
            assert_eq!(Answer::parse(text), Some(answer), "{text}");
        }
        assert_eq!(Answer::parse("maybe"), None);
    }

    #[test]
    fn column_letters_are_spreadsheet_style() {
        assert_eq!(column_letters(0), "A");
        assert_eq!(column_letters(25), "Z");
        assert_eq!(column_letters(26), "AA");
        assert_eq!(column_letters(27), "AB");
    }

    #[test]
    fn csv_errors_name_row_and_column() {
        let csv =
            b"Requirement,Response,Evidence,Justification\n2.4.3.1,C,EV-1,\n2.4.3.2,maybe,,\n";
        match from_csv(csv, &UploadBudget::default()) {
            Err(AssessmentError::Responses { row, column, .. }) => {
                assert_eq!((row, column.as_str()), (3, "Response"));
            }
            other => panic!("{other:?}"),
        }
        let no_header = b"2.4.3.1,C\n";
        assert!(matches!(
            from_csv(no_header, &UploadBudget::default()),
            Err(AssessmentError::Responses { row: 1, .. })
        ));
    }

    /// The row of an unknown, reserved or repeated requirement, found only when the responses
    /// meet the catalogue.
    fn catalogue_error_row(responses: &[Response]) -> (usize, String) {
        let catalogue = super::super::find("uk-psti", None).unwrap();
        match check_against(&catalogue, responses) {
            Err(AssessmentError::Responses { row, reason, .. }) => (row, reason),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn catalogue_errors_name_the_row_of_the_file() {
        // CSV: blank lines and a quoted two-line field still count as lines.
        let csv = b"requirement,response,evidence\n1,C,\"E1\nsecond line\"\n\n\n2,C,E2\n99,C,E3\n";
        let (row, reason) = catalogue_error_row(&from_csv(csv, &UploadBudget::default()).unwrap());
        assert_eq!(row, 7, "{reason}");
        assert!(reason.contains("\"99\" is not a requirement"), "{reason}");
        // JSON: the position in the array, from 1.
        let json = br#"{"responses": [
            {"requirement": "1", "response": "C"},
            {"requirement": "2", "response": "C"},
            {"requirement": "1", "response": "C"}]}"#;
        let (row, reason) =
            catalogue_error_row(&from_json(json, &UploadBudget::default()).unwrap().responses);
        assert_eq!((row, reason.as_str()), (3, "1 is answered twice"));
    }
}
