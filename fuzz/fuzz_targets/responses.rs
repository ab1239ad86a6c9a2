//! The responses parsers a certifier's upload meets (`POST /v1/assessments`): CSV, XLSX and
//! JSON, under upload budgets small enough for the fuzzer to reach every one of them, then the
//! assessment of what parsed against every built-in catalogue.
//!
//! Input: the first byte chooses the format (0 CSV, 1 XLSX, 2 JSON, modulo 3), the rest is the
//! file. Properties: nothing panics or aborts (no allocation the budgets do not allow: the
//! harness's `-rss_limit_mb` catches one); what parses keeps within the budgets (rows, cell
//! lengths); the decision's achieved class is one of the catalogue's levels.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trustmark_issuer::assessment::{self, ResponsesFormat, UploadBudget};

/// Budgets a few times smaller than the defaults, so that small inputs cross them.
const BUDGET: UploadBudget = UploadBudget {
    file_bytes: 1 << 20,
    zip_entries: 16,
    part_bytes: 256 * 1024,
    total_bytes: 1024 * 1024,
    rows: 64,
    columns: 8,
    cells: 256,
    cell_bytes: 64,
};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, file)) = data.split_first() else {
        return;
    };
    let format = match selector % 3 {
        0 => ResponsesFormat::Csv,
        1 => ResponsesFormat::Xlsx,
        _ => ResponsesFormat::Json,
    };
    let Ok(parsed) = assessment::parse(file, format, &BUDGET) else {
        return;
    };
    assert!(
        parsed.responses.len() as u64 <= BUDGET.rows,
        "over the row budget"
    );
    for r in &parsed.responses {
        for text in [
            Some(&r.requirement),
            r.evidence.as_ref(),
            r.justification.as_ref(),
        ]
        .into_iter()
        .flatten()
        {
            assert!(
                text.len() as u64 <= BUDGET.cell_bytes,
                "over the cell budget"
            );
        }
    }
    let catalogues = assessment::built_in().expect("the built-in catalogues load");
    for catalogue in catalogues {
        for &target in &catalogue.levels {
            if let Ok(decision) = assessment::assess(catalogue, target, &parsed.responses) {
                assert!(decision
                    .achieved_class
                    .is_none_or(|c| catalogue.levels.contains(&c)));
            }
        }
    }
});
