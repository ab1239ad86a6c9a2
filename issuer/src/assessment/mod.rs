//! The compliance assessment engine: framework catalogues as data, responses from CSV, XLSX or
//! JSON, the decision of the class achieved, and the canonical record whose digest every mark
//! issued from it carries in its registry record.

mod budget;
mod catalogue;
mod changes;
mod crosswalk;
mod decision;
mod json;
pub mod record;
mod responses;

pub use budget::{Limit, OverBudget, UploadBudget};
pub use catalogue::{built_in, find, Applicability, Catalogue, ClassMeaning, Requirement};
pub use changes::{compare, ChangeList};
pub use crosswalk::{crosswalk, Crosswalk, Prefill, RowRef};
pub use decision::{decide, Blocker, Decision, Finding, Unmet};
pub use responses::{
    check_against, from_csv, from_json, from_xlsx, parse, saved, Answer, CarriedOver, Response,
    ResponsesFile, ResponsesFormat,
};

/// Why an assessment could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AssessmentError {
    /// No catalogue has this id.
    #[error("unknown framework {id:?} (known: {known})")]
    UnknownFramework {
        /// The id asked for.
        id: String,
        /// The known ids, comma-separated.
        known: String,
    },
    /// The framework is known but not at this release (or, with no release named, it has
    /// several and none is the default).
    #[error("{framework} has no built-in release {release:?} (releases: {known})")]
    UnknownRelease {
        /// The framework.
        framework: String,
        /// The release asked for.
        release: String,
        /// The built-in releases, as written in marks.
        known: String,
    },
    /// An earlier assessment cannot pre-fill this framework.
    #[error("cannot carry {from} responses over to {to}: {reason}")]
    NoCrosswalk {
        /// The earlier assessment's framework.
        from: String,
        /// The framework to pre-fill.
        to: String,
        /// Why.
        reason: &'static str,
    },
    /// A catalogue file is invalid.
    #[error("framework catalogue {file}: {reason}")]
    Catalogue {
        /// The file.
        file: String,
        /// What is wrong.
        reason: String,
    },
    /// A responses file is invalid; `row` is 1-based (the header is row 1), 0 for the whole file.
    #[error("responses, row {row}, column {column}: {reason}")]
    Responses {
        /// The row.
        row: usize,
        /// The column (name or letter).
        column: String,
        /// What is wrong.
        reason: String,
    },
    /// A responses file over one of its upload budgets.
    #[error("responses: {0}")]
    OverBudget(#[from] OverBudget),
    /// The target class is not one of the framework's levels.
    #[error("target class {class} is not a level of {framework} (levels: {levels:?})")]
    UnknownClass {
        /// The framework.
        framework: String,
        /// The class asked for.
        class: u8,
        /// The levels.
        levels: Vec<u8>,
    },
    /// No requirement of the catalogue is mandatory at any class, so nothing defines a class
    /// (`spec/assessment.md` 3.2). Refused up front rather than answered "met" with nothing
    /// checked.
    #[error("{framework} cannot certify any class: no requirement of the catalogue is mandatory")]
    ClassNotCertifiable {
        /// The framework.
        framework: String,
    },
}

/// Assesses responses (checked against the catalogue first) for a target class.
pub fn assess(
    catalogue: &Catalogue,
    target_class: u8,
    responses: &[Response],
) -> Result<Decision, AssessmentError> {
    if !catalogue.levels.contains(&target_class) {
        return Err(AssessmentError::UnknownClass {
            framework: catalogue.id.clone(),
            class: target_class,
            levels: catalogue.levels.clone(),
        });
    }
    if catalogue.highest_defined_level().is_none() {
        return Err(AssessmentError::ClassNotCertifiable {
            framework: catalogue.id.clone(),
        });
    }
    check_against(catalogue, responses)?;
    Ok(decide(catalogue, target_class, responses))
}

#[cfg(test)]
mod golden;
#[cfg(test)]
mod tests;
