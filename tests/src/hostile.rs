//! Hostile uploads shared by the hostile-input tests and `scripts/bench-hostile` (which times
//! them and measures the server's memory while it refuses them).

use crate::xlsx::{self, Part};

/// The XLSX content type.
pub const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// One upload and the answer it must get.
#[derive(Debug, Clone)]
pub struct Upload {
    /// What it is.
    pub name: &'static str,
    /// Its content type.
    pub content_type: &'static str,
    /// Its bytes.
    pub body: Vec<u8>,
    /// The status it must get.
    pub status: u16,
    /// The error code it must get.
    pub code: &'static str,
}

/// A sheet part from raw XML rows between the sheet's start and end.
pub fn sheet_xml(rows: &str) -> Part {
    let mut xml = xlsx::SHEET_START.to_vec();
    xml.extend_from_slice(rows.as_bytes());
    xml.extend_from_slice(xlsx::SHEET_END);
    Part::new("xl/worksheets/sheet1.xml", &xml)
}

/// Hostile responses uploads (`POST /v1/assessments`), one or more per budget and format,
/// each with the answer it must get.
pub fn uploads() -> Vec<Upload> {
    let header = r#"<row r="1"><c r="A1" t="inlineStr"><is><t>requirement</t></is></c><c r="B1" t="inlineStr"><is><t>response</t></is></c></row>"#;
    let bomb = || {
        Part::bomb(
            "xl/worksheets/sheet1.xml",
            xlsx::SHEET_START,
            1024,
            xlsx::SHEET_END,
        )
    };
    // A row of one inline-string cell, padded to 64 bytes: 16 384 rows a MiB.
    let row = format!(
        "{:<64}",
        r#"<row><c t="inlineStr"><is><t>2.4.3.1</t></is></c></row>"#
    );
    let rows_bomb = Part::bomb_of(
        "xl/worksheets/sheet1.xml",
        xlsx::SHEET_START,
        row.as_bytes(),
        1024,
        xlsx::SHEET_END,
    );
    let strings = Part::new(
        "xl/sharedStrings.xml",
        br#"<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1000000000000" uniqueCount="1000000000000"><si><t>x</t></si></sst>"#,
    );
    let many_parts = (0..100)
        .map(|i| Part::new(&format!("xl/media/pad{i}.bin"), b"x"))
        .collect();
    let large_parts = (0..5)
        .map(|i| Part::bomb(&format!("xl/media/big{i}.bin"), b"", 3, b""))
        .collect();
    let csv_rows = format!("requirement,response\n{}", "1,C\n".repeat(20_000));
    let csv_cell = format!(
        "requirement,response,evidence\n1,C,{}\n",
        "e".repeat(10_000)
    );
    let csv_columns = format!("{}\n", vec!["x"; 100].join(","));
    let deep = format!(
        r#"{{"responses": {}1{}}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let json_rows = format!(
        r#"{{"responses": [{}]}}"#,
        vec![r#"{"requirement":"1","response":"C","evidence":"E"}"#; 20_000].join(",")
    );
    let cases: Vec<(&str, &str, Vec<u8>, u16, &str)> = vec![
        (
            "XLSX part inflating to 1 GiB",
            XLSX,
            xlsx::workbook(bomb(), vec![]),
            413,
            "part_inflates_too_large",
        ),
        (
            "XLSX sheet of 16 million rows inflating to 1 GiB",
            XLSX,
            xlsx::workbook(rows_bomb, vec![]),
            413,
            "part_inflates_too_large",
        ),
        // The zip reader stops at the first byte past the declared size: not a budget, a lie.
        (
            "XLSX part inflating to 1 GiB that declares 1 000 bytes",
            XLSX,
            xlsx::workbook(bomb().declaring(1000), vec![]),
            400,
            "invalid_request",
        ),
        (
            "XLSX part inflating to 1 GiB that declares 5 MiB",
            XLSX,
            xlsx::workbook(bomb().declaring(5 << 20), vec![]),
            413,
            "part_inflates_too_large",
        ),
        (
            "XLSX declaring 10^12 shared strings",
            XLSX,
            xlsx::workbook(sheet_xml(header), vec![strings]),
            413,
            "too_many_cells",
        ),
        (
            "XLSX of 105 parts",
            XLSX,
            xlsx::workbook(sheet_xml(header), many_parts),
            413,
            "too_many_parts",
        ),
        (
            "XLSX parts adding up to 15 MiB + the sheet",
            XLSX,
            xlsx::workbook(
                sheet_xml(&format!("{header}{}", " ".repeat(2 << 20))),
                large_parts,
            ),
            413,
            "upload_inflates_too_large",
        ),
        (
            "XLSX cell at row 1 048 576",
            XLSX,
            xlsx::workbook(
                sheet_xml(&format!(
                    r#"{header}<row r="1048576"><c r="A1048576" t="inlineStr"><is><t>1</t></is></c></row>"#
                )),
                vec![],
            ),
            413,
            "too_many_rows",
        ),
        (
            "XLSX cell at column XFD",
            XLSX,
            xlsx::workbook(
                sheet_xml(&format!(
                    r#"{header}<row r="2"><c r="XFD2" t="inlineStr"><is><t>1</t></is></c></row>"#
                )),
                vec![],
            ),
            413,
            "too_many_columns",
        ),
        (
            "not a zip, sent as XLSX",
            XLSX,
            b"PK\x03\x04 but not really".to_vec(),
            400,
            "invalid_request",
        ),
        (
            "CSV of 20 001 rows",
            "text/csv",
            csv_rows.into_bytes(),
            413,
            "too_many_rows",
        ),
        (
            "CSV cell of 10 000 bytes",
            "text/csv",
            csv_cell.into_bytes(),
            413,
            "cell_too_long",
        ),
        (
            "CSV of 100 columns",
            "text/csv",
            csv_columns.into_bytes(),
            413,
            "too_many_columns",
        ),
        (
            "CSV that is not UTF-8",
            "text/csv",
            b"requirement,response\n1,\xff\xfe\n".to_vec(),
            400,
            "invalid_request",
        ),
        (
            "JSON nested 100 000 deep",
            "application/json",
            deep.into_bytes(),
            400,
            "invalid_request",
        ),
        (
            "JSON of 20 000 responses",
            "application/json",
            json_rows.into_bytes(),
            413,
            "too_many_rows",
        ),
        (
            "JSON with overlong UTF-8 (C0 AF for '/')",
            "application/json",
            b"{\"responses\": [{\"requirement\": \"\xc0\xaf\", \"response\": \"C\"}]}".to_vec(),
            400,
            "invalid_request",
        ),
        (
            "JSON with an unknown field",
            "application/json",
            br#"{"responses": [], "admin": true}"#.to_vec(),
            400,
            "invalid_request",
        ),
        (
            "JSON with a control character in an id",
            "application/json",
            br#"{"responses": [{"requirement": "1\u0000", "response": "C", "evidence": "E"}]}"#
                .to_vec(),
            400,
            "invalid_request",
        ),
        (
            "plain text",
            "text/plain",
            b"1,C".to_vec(),
            415,
            "unsupported_media_type",
        ),
    ];
    cases
        .into_iter()
        .map(|(name, content_type, body, status, code)| Upload {
            name,
            content_type,
            body,
            status,
            code,
        })
        .collect()
}
