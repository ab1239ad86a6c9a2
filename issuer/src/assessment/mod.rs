//! The compliance assessment engine: framework catalogues as data, responses from CSV, XLSX or
//! JSON, the decision of the class achieved, and the canonical record whose digest every mark
//! issued from it carries in its registry record.

mod budget;
mod catalogue;
mod changes;
mod decision;
mod json;
pub mod record;
mod responses;

pub use budget::{Limit, OverBudget, UploadBudget};
pub use catalogue::{built_in, find, Applicability, Catalogue, ClassMeaning, Requirement};
pub use changes::{compare, ChangeList};
pub use decision::{decide, Blocker, Decision, Finding, Unmet};
pub use responses::{
    check_against, from_csv, from_json, from_xlsx, parse, Answer, Response, ResponsesFile,
    ResponsesFormat,
};

/// Why an assessment could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AssessmentError {
    /// No catalogue has this id.
    #[error("unknown framework {0:?} (known: iotsf-icaf, etsi-en-303-645, uk-psti)")]
    UnknownFramework(String),
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
    /// The target class is a level of the framework above every row's `mandatory_from`: no
    /// requirement is mandatory from it, nothing defines it, so no answers can reach it
    /// (`spec/assessment.md` 3.2). Refused up front rather than answered "not met" with
    /// nothing to fix.
    #[error("target class {class} of {framework} cannot be certified: no requirement of the catalogue is mandatory from class {class}, so nothing defines it{}", highest.map_or(String::new(), |h| format!(" (the highest class that can be certified is {h})")))]
    ClassNotCertifiable {
        /// The framework.
        framework: String,
        /// The class asked for.
        class: u8,
        /// The highest class that can be certified, if any.
        highest: Option<u8>,
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
    let highest = catalogue.highest_certifiable_level();
    if highest.is_none_or(|h| target_class > h) {
        return Err(AssessmentError::ClassNotCertifiable {
            framework: catalogue.id.clone(),
            class: target_class,
            highest,
        });
    }
    check_against(catalogue, responses)?;
    Ok(decide(catalogue, target_class, responses))
}

#[cfg(test)]
mod tests;
