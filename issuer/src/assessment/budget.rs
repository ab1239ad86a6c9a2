//! What a responses upload may cost (`spec/assessment.md` 2.8). Every upload is hostile until
//! read: an XLSX workbook is a zip archive whose parts can inflate a thousandfold, a sheet can
//! place one cell at row 1 048 576, a shared-strings part can declare a billion strings for its
//! reader to reserve room for. Each parser works under these budgets and stops at the first one
//! exceeded, before the memory or time it would cost is spent.
//!
//! The defaults come from the largest real questionnaire: the IoTSF framework has 218 rows of
//! four columns, its workbook (exported by Excel, with styles and theme) holds 11 parts, and its
//! sheet and shared strings inflate to well under 1 MiB together. Each budget leaves ten times or
//! more room above that, and all of them together bound a parse to a few tens of MB and well under
//! a second (`scripts/bench-hostile`).

use std::io::Read;

use serde::Deserialize;

/// The budgets of one upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UploadBudget {
    /// Largest file in bytes (for XLSX, the compressed archive).
    pub file_bytes: u64,
    /// Most entries (parts) in an XLSX archive. A workbook from Excel or LibreOffice has
    /// about 10.
    pub zip_entries: u64,
    /// Most bytes one XLSX part may inflate to.
    pub part_bytes: u64,
    /// Most bytes all parts of an XLSX archive may inflate to together.
    pub total_bytes: u64,
    /// Most rows, header and blank rows included (for XLSX, the highest row number; for JSON,
    /// the responses).
    pub rows: u64,
    /// Most columns (for XLSX, the highest column: 64 is column BL).
    pub columns: u64,
    /// Most non-empty cells (for XLSX, also the most shared strings a workbook may declare).
    pub cells: u64,
    /// Longest cell text in bytes (an evidence reference or a justification).
    pub cell_bytes: u64,
}

impl Default for UploadBudget {
    fn default() -> Self {
        Self {
            file_bytes: 8 * 1024 * 1024,
            zip_entries: 64,
            part_bytes: 4 * 1024 * 1024,
            total_bytes: 16 * 1024 * 1024,
            rows: 10_000,
            columns: 64,
            cells: 50_000,
            cell_bytes: 4096,
        }
    }
}

/// Which budget an upload exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Limit {
    /// [`UploadBudget::file_bytes`].
    FileBytes,
    /// [`UploadBudget::zip_entries`].
    ZipEntries,
    /// [`UploadBudget::part_bytes`].
    PartBytes,
    /// [`UploadBudget::total_bytes`].
    TotalBytes,
    /// [`UploadBudget::rows`].
    Rows,
    /// [`UploadBudget::columns`].
    Columns,
    /// [`UploadBudget::cells`].
    Cells,
    /// [`UploadBudget::cell_bytes`].
    CellBytes,
}

impl Limit {
    /// The stable error code (`spec/api.md` 5.2).
    pub fn code(self) -> &'static str {
        match self {
            Self::FileBytes => "upload_too_large",
            Self::ZipEntries => "too_many_parts",
            Self::PartBytes => "part_inflates_too_large",
            Self::TotalBytes => "upload_inflates_too_large",
            Self::Rows => "too_many_rows",
            Self::Columns => "too_many_columns",
            Self::Cells => "too_many_cells",
            Self::CellBytes => "cell_too_long",
        }
    }

    fn what(self) -> &'static str {
        match self {
            Self::FileBytes => "bytes in the file",
            Self::ZipEntries => "parts in the archive",
            Self::PartBytes => "bytes inflated from one part",
            Self::TotalBytes => "bytes inflated from all parts",
            Self::Rows => "rows",
            Self::Columns => "columns",
            Self::Cells => "cells",
            Self::CellBytes => "bytes in one cell",
        }
    }
}

/// An upload over one of its budgets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{at}: over the upload budget of {max} {}", limit.what())]
pub struct OverBudget {
    /// The budget.
    pub limit: Limit,
    /// Its value.
    pub max: u64,
    /// Where: a part name, a row, or `file`.
    pub at: String,
}

impl UploadBudget {
    /// `Err` when `value` is over the `limit` budget.
    pub(super) fn check(
        &self,
        limit: Limit,
        value: u64,
        at: impl FnOnce() -> String,
    ) -> Result<(), OverBudget> {
        let max = match limit {
            Limit::FileBytes => self.file_bytes,
            Limit::ZipEntries => self.zip_entries,
            Limit::PartBytes => self.part_bytes,
            Limit::TotalBytes => self.total_bytes,
            Limit::Rows => self.rows,
            Limit::Columns => self.columns,
            Limit::Cells => self.cells,
            Limit::CellBytes => self.cell_bytes,
        };
        if value > max {
            return Err(OverBudget {
                limit,
                max,
                at: at(),
            });
        }
        Ok(())
    }

    /// Checks a cell's text length.
    pub(super) fn check_cell(
        &self,
        text: &str,
        at: impl FnOnce() -> String,
    ) -> Result<(), OverBudget> {
        self.check(Limit::CellBytes, text.len() as u64, at)
    }
}

/// Why an XLSX archive was refused before it was parsed.
#[derive(Debug)]
pub(super) enum ArchiveRefused {
    /// Over a budget.
    OverBudget(OverBudget),
    /// Not a readable zip archive, or a part that does not inflate.
    Unreadable(String),
}

impl From<OverBudget> for ArchiveRefused {
    fn from(e: OverBudget) -> Self {
        Self::OverBudget(e)
    }
}

/// Inflates every part of an XLSX archive, counting, before any XLSX reader sees it: a part
/// whose declared or actual inflated size is over the budget, or parts that add up to more,
/// stop the check at that point (so a 1 MiB part that inflates to 1 GiB costs 4 MiB of
/// inflating). The shared-strings part's declared string count is checked too, since XLSX
/// readers reserve room for that many strings up front.
pub(super) fn check_archive(bytes: &[u8], budget: &UploadBudget) -> Result<(), ArchiveRefused> {
    let unreadable = |e: zip::result::ZipError| ArchiveRefused::Unreadable(e.to_string());
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(unreadable)?;
    budget.check(Limit::ZipEntries, archive.len() as u64, || "archive".into())?;
    let mut total = 0u64;
    for i in 0..archive.len() {
        let mut part = archive.by_index(i).map_err(unreadable)?;
        let name = part.name().map_err(unreadable)?.into_owned();
        budget.check(Limit::PartBytes, part.size(), || name.clone())?;
        let shared_strings = name.to_ascii_lowercase().ends_with("sharedstrings.xml");
        let inflated = if shared_strings {
            let mut xml = Vec::new();
            (&mut part)
                .take(budget.part_bytes + 1)
                .read_to_end(&mut xml)
                .map_err(|e| ArchiveRefused::Unreadable(format!("{name}: {e}")))?;
            budget.check(Limit::PartBytes, xml.len() as u64, || name.clone())?;
            check_declared_strings(&xml, budget, &name)?;
            xml.len() as u64
        } else {
            std::io::copy(
                &mut (&mut part).take(budget.part_bytes + 1),
                &mut std::io::sink(),
            )
            .map_err(|e| ArchiveRefused::Unreadable(format!("{name}: {e}")))?
        };
        budget.check(Limit::PartBytes, inflated, || name.clone())?;
        total += inflated;
        budget.check(Limit::TotalBytes, total, || name.clone())?;
    }
    Ok(())
}

/// The `count` and `uniqueCount` of a shared-strings part's `<sst>` element must be within the
/// cell budget.
fn check_declared_strings(
    xml: &[u8],
    budget: &UploadBudget,
    name: &str,
) -> Result<(), ArchiveRefused> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf) {
            Ok(Event::Start(e) | Event::Empty(e)) if e.local_name().as_ref() == "sst" => {
                for attribute in e.attributes().flatten() {
                    let key = attribute.key.local_name();
                    if key.as_ref() != "count" && key.as_ref() != "uniqueCount" {
                        continue;
                    }
                    // Unreadable counts are refused as if huge: the reader would not know
                    // what to reserve either.
                    let declared = attribute.value.trim().parse::<u64>().unwrap_or(u64::MAX);
                    budget.check(Limit::Cells, declared, || {
                        format!("{name} (declared string count)")
                    })?;
                }
                return Ok(());
            }
            Ok(Event::Eof) => return Ok(()),
            Ok(_) => buf.clear(),
            Err(e) => return Err(ArchiveRefused::Unreadable(format!("{name}: {e}"))),
        }
    }
}

/// A table read under a budget: the non-empty cells of each row, sparse.
#[derive(Debug, Default)]
pub(super) struct SparseTable {
    /// Row number (0-based) -> (column, text), in the order read.
    rows: std::collections::BTreeMap<u32, Vec<(u32, String)>>,
    cells: u64,
}

impl SparseTable {
    /// Adds the cell at `(row, column)` (0-based), checking the budgets.
    pub(super) fn add(
        &mut self,
        budget: &UploadBudget,
        (row, column): (u32, u32),
        text: String,
        at: impl Fn() -> String,
    ) -> Result<(), OverBudget> {
        budget.check(Limit::Rows, u64::from(row) + 1, &at)?;
        budget.check(Limit::Columns, u64::from(column) + 1, &at)?;
        if text.trim().is_empty() {
            return Ok(());
        }
        budget.check_cell(&text, &at)?;
        self.cells += 1;
        budget.check(Limit::Cells, self.cells, &at)?;
        self.rows.entry(row).or_default().push((column, text));
        Ok(())
    }

    /// The rows from the first one holding a cell: `(row number from 1, cells by column)`,
    /// blank rows in between included (as empty rows).
    pub(super) fn into_rows(self) -> impl Iterator<Item = (usize, Vec<String>)> {
        let span = match (self.rows.keys().next(), self.rows.keys().next_back()) {
            (Some(first), Some(last)) => Some(*first..=*last),
            _ => None,
        };
        let mut rows = self.rows;
        span.into_iter().flatten().map(move |row| {
            let cells = rows.remove(&row).unwrap_or_default();
            let width = cells
                .iter()
                .map(|(c, _)| *c as usize + 1)
                .max()
                .unwrap_or(0);
            let mut dense = vec![String::new(); width];
            for (column, text) in cells {
                if let Some(slot) = dense.get_mut(column as usize) {
                    *slot = text;
                }
            }
            (row as usize + 1, dense)
        })
    }
}
