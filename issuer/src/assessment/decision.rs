//! The decision: which class the responses achieve. Rationale: `spec/assessment.md`.
//!
//! - A row is **met** only when answered Compliant with an evidence reference, or Not applicable
//!   with a justification (and, where the framework allows NA only for conditional provisions,
//!   only on a conditional row). Partially compliant never meets a row; a missing response is
//!   unmet.
//! - **Achieved class** = the highest class `c` such that every row mandatory at `c` (mandatory
//!   from `c` or below) is met, and `c` is at most the highest class any row becomes mandatory
//!   from, or at most the target (a class above every row's `mandatory_from`, IoTSF class 4,
//!   needs the same rows and is reached only when the certifier targets it). The mandatory sets
//!   grow with the class, so the classes achieved are those below the lowest class of any
//!   unmet mandatory row, capped as above.
//! - Advisory and recommended rows answered P or N become **findings**; without a rationale the
//!   finding says so, and for ETSI EN 303 645 an unjustified unmet recommendation blocks.

use serde::{Deserialize, Serialize};

use super::{record, Answer, Applicability, Catalogue, Requirement, Response};

/// Why a row is not met.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unmet {
    /// No response.
    NoResponse,
    /// Partially compliant.
    PartiallyCompliant,
    /// Non-compliant.
    NonCompliant,
    /// Compliant, but no evidence reference.
    NoEvidence,
    /// Not applicable, but no justification.
    NoJustification,
    /// Not applicable on an unconditional row where the framework allows NA only for
    /// conditional provisions.
    NotApplicableNotAllowed,
    /// An unmet recommendation without a justification (ETSI EN 303 645).
    UnjustifiedRecommendation,
    /// Pre-filled from another framework's assessment and not yet confirmed by the certifier.
    NotConfirmed,
}

/// A row that keeps a class from being achieved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Blocker {
    /// Requirement id.
    pub id: String,
    /// Its title.
    pub title: String,
    /// The lowest class it is mandatory at.
    pub mandatory_from: u8,
    /// Why it is not met.
    pub reason: Unmet,
}

/// An advisory or recommended row answered P or N.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Finding {
    /// Requirement id.
    pub id: String,
    /// Its title.
    pub title: String,
    /// The answer (`P` or `N`, or `C` without evidence, or `NA` without justification).
    pub response: Answer,
    /// The rationale given, if any.
    pub rationale: Option<String>,
    /// True when no rationale was given.
    pub missing_rationale: bool,
}

/// The outcome of an assessment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    /// Framework id.
    pub framework: String,
    /// Framework release.
    pub version: String,
    /// The class the certifier aimed for.
    pub target_class: u8,
    /// The class achieved, or `None` when not even the lowest class is.
    pub achieved_class: Option<u8>,
    /// Whether the target was reached.
    pub meets_target: bool,
    /// Unmet mandatory rows of the next class up from the achieved one.
    pub blocking: Vec<Blocker>,
    /// Unmet mandatory rows up to the target class.
    pub blocking_for_target: Vec<Blocker>,
    /// Advisory and recommended rows answered P or N.
    pub findings: Vec<Finding>,
    /// Ids of catalogue rows whose applicability is not confirmed from the framework's text
    /// and that are mandatory at or below the target or not mandatory at all (an unread
    /// placeholder may be mandatory): the decision is provisional on them.
    pub unconfirmed_rows: Vec<String>,
    /// SHA-256 (hex) of the canonical assessment record.
    pub digest: String,
}

/// Whether `response` meets `row`, or why not.
pub(super) fn evaluate(
    catalogue: &Catalogue,
    row: &Requirement,
    response: Option<&Response>,
) -> Result<(), Unmet> {
    let Some(response) = response else {
        return Err(Unmet::NoResponse);
    };
    if response.carried_over.as_ref().is_some_and(|c| !c.confirmed) {
        return Err(Unmet::NotConfirmed);
    }
    match response.answer {
        Answer::Compliant if response.evidence.is_some() => Ok(()),
        Answer::Compliant => Err(Unmet::NoEvidence),
        Answer::PartiallyCompliant => Err(Unmet::PartiallyCompliant),
        Answer::NonCompliant => Err(Unmet::NonCompliant),
        Answer::NotApplicable if response.justification.is_none() => Err(Unmet::NoJustification),
        Answer::NotApplicable
            if catalogue.na_requires_condition
                && matches!(row.applicability, Applicability::Mandatory { .. }) =>
        {
            Err(Unmet::NotApplicableNotAllowed)
        }
        Answer::NotApplicable => Ok(()),
    }
}

/// Decides the achieved class of `responses` (already checked against the catalogue) for
/// `target_class`.
pub fn decide(catalogue: &Catalogue, target_class: u8, responses: &[Response]) -> Decision {
    let first = catalogue.first_level();
    let by_id: std::collections::HashMap<&str, &Response> = responses
        .iter()
        .map(|r| (r.requirement.as_str(), r))
        .collect();
    let response = |id: &str| by_id.get(id).copied();
    let mut unmet_mandatory: Vec<Blocker> = Vec::new();
    let mut findings = Vec::new();
    for row in &catalogue.requirements {
        let answer = response(&row.id);
        let outcome = evaluate(catalogue, row, answer);
        if let Some(from) = row.applicability.mandatory_from(first) {
            if let Err(reason) = outcome {
                unmet_mandatory.push(blocker(row, from, reason));
            }
        } else if row.applicability.is_advisory() {
            let Some(answer) = answer else { continue };
            let unmet = matches!(
                answer.answer,
                Answer::PartiallyCompliant | Answer::NonCompliant
            ) || outcome == Err(Unmet::NoEvidence)
                || outcome == Err(Unmet::NoJustification);
            if unmet {
                let missing_rationale = answer.justification.is_none();
                if missing_rationale && catalogue.unjustified_recommendation_blocks {
                    unmet_mandatory.push(blocker(row, first, Unmet::UnjustifiedRecommendation));
                }
                findings.push(Finding {
                    id: row.id.clone(),
                    title: row.title.clone(),
                    response: answer.answer,
                    rationale: answer.justification.clone(),
                    missing_rationale,
                });
            }
        }
    }
    let lowest_unmet = unmet_mandatory.iter().map(|b| b.mandatory_from).min();
    // A level above the highest one any row becomes mandatory from (IoTSF class 4) has the
    // same mandatory rows as that one: what sets it apart is the risk assessment behind the
    // target, so it is achieved only when targeted (`spec/assessment.md` 3.2).
    let highest_defined = catalogue.highest_defined_level();
    let achieved_class = catalogue
        .levels
        .iter()
        .copied()
        .filter(|level| lowest_unmet.is_none_or(|unmet| *level < unmet))
        .filter(|level| highest_defined.is_some_and(|top| *level <= top.max(target_class)))
        .max();
    let next = catalogue
        .levels
        .iter()
        .copied()
        .find(|level| achieved_class.is_none_or(|a| *level > a));
    let blocking = unmet_mandatory
        .iter()
        .filter(|b| Some(b.mandatory_from) <= next)
        .cloned()
        .collect();
    let blocking_for_target = unmet_mandatory
        .iter()
        .filter(|b| b.mandatory_from <= target_class)
        .cloned()
        .collect();
    // An unconfirmed row counts when it is mandatory at or below the target, or when it is
    // not mandatory at all: its applicability was not read, so it may be mandatory.
    let unconfirmed_rows = catalogue
        .requirements
        .iter()
        .filter(|r| !r.confirmed && r.applicability != Applicability::Reserved)
        .filter(|r| {
            r.applicability
                .mandatory_from(first)
                .is_none_or(|f| f <= target_class)
        })
        .map(|r| r.id.clone())
        .collect();
    Decision {
        framework: catalogue.id.clone(),
        version: catalogue.version.clone(),
        target_class,
        achieved_class,
        meets_target: achieved_class.is_some_and(|a| a >= target_class),
        blocking,
        blocking_for_target,
        findings,
        unconfirmed_rows,
        digest: hex::encode(record::digest(catalogue, target_class, responses)),
    }
}

fn blocker(row: &Requirement, from: u8, reason: Unmet) -> Blocker {
    Blocker {
        id: row.id.clone(),
        title: row.title.clone(),
        mandatory_from: from,
        reason,
    }
}
