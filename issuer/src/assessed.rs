//! From assessments to mark claims: the class in a mark is always the one the assessment engine
//! computed (or a lower one the certifier asks for), never a number typed into a request.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use trustmark_format::{Assurance, FrameworkId};

use crate::assessment::{self, Catalogue, Decision, Response, ResponsesFormat};
use crate::{IssueError, IssueRequest};

/// The scheme's rules on top of the frameworks: above which class a claim needs third-party
/// assurance, and for which frameworks a decision resting on catalogue rows not confirmed from
/// the framework's text is refused. Loaded from TOML:
///
/// ```toml
/// refuse_provisional = ["etsi-en-303-645"]
///
/// [self_assessment_max_class]
/// iotsf-icaf = 1
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchemePolicy {
    /// Per framework id, the highest class a self-assessment may claim.
    #[serde(default)]
    pub self_assessment_max_class: BTreeMap<String, u8>,
    /// Framework ids whose claims are refused when their decision is provisional (its
    /// `unconfirmed_rows` is not empty: `spec/frameworks.md` 9).
    #[serde(default)]
    pub refuse_provisional: std::collections::BTreeSet<String>,
}

impl Default for SchemePolicy {
    /// Self-assessment up to IoTSF class 1; classes 2 to 4 need a test lab. ETSI EN 303 645 and
    /// UK PSTI allow a manufacturer's own statement of conformity.
    fn default() -> Self {
        Self {
            self_assessment_max_class: BTreeMap::from([("iotsf-icaf".to_owned(), 1)]),
            refuse_provisional: std::collections::BTreeSet::new(),
        }
    }
}

impl SchemePolicy {
    /// Parses a policy file.
    pub fn from_toml(text: &str) -> Result<Self, IssueError> {
        toml::from_str(text).map_err(|e| IssueError::invalid("policy", e.to_string()))
    }
}

/// A framework's responses as loaded for issuance.
#[derive(Debug, Clone)]
pub struct Assessment {
    /// The framework catalogue.
    pub catalogue: std::sync::Arc<Catalogue>,
    /// The responses.
    pub responses: Vec<Response>,
    /// The target class the file names, if it does.
    pub target_class: Option<u8>,
}

impl Assessment {
    /// Loads responses (CSV, XLSX or JSON) or a saved assessment (JSON with `framework` and
    /// `release`). A file that does not name its framework is for `framework`, if given; one
    /// that does not name its release is for `release`, else the framework's default release.
    pub fn load(
        path: &Path,
        framework: Option<&str>,
        release: Option<&str>,
    ) -> Result<Self, IssueError> {
        let name = path.to_string_lossy();
        let format = ResponsesFormat::from_file_name(&name).ok_or_else(|| {
            IssueError::invalid(
                "assessment",
                format!("{name}: use a .csv, .xlsx or .json file"),
            )
        })?;
        let bytes = std::fs::read(path).map_err(|source| IssueError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let file = assessment::parse(&bytes, format, &assessment::UploadBudget::default())
            .map_err(|e| IssueError::invalid("assessment", format!("{name}: {e}")))?;
        let framework = file.framework.as_deref().or(framework).ok_or_else(|| {
            IssueError::invalid(
                "assessment",
                format!("{name} does not say which framework it answers; save it with `trustmark-issuer assess --save`"),
            )
        })?;
        let catalogue = assessment::find(framework, file.release.as_deref().or(release))
            .map_err(|e| IssueError::invalid("assessment", e.to_string()))?;
        assessment::check_against(&catalogue, &file.responses)
            .map_err(|e| IssueError::invalid("assessment", format!("{name}: {e}")))?;
        Ok(Self {
            catalogue,
            responses: file.responses,
            target_class: file.target_class,
        })
    }
}

/// A framework claim decided from an assessment.
#[derive(Debug, Clone)]
pub struct DecidedClaim {
    /// The framework.
    pub framework: FrameworkId,
    /// The release, as written in the mark.
    pub version: String,
    /// The class the mark claims.
    pub class: u8,
    /// The decision it rests on (its digest goes into the registry record).
    pub decision: Decision,
}

/// Decides each claim of `request` from its assessment. A claim may name a class: it must not
/// exceed what the assessment achieves. Without one, the mark claims the achieved class, capped
/// by the scheme policy for self-assessments.
pub fn decide_claims(
    request: &IssueRequest,
    assessments: &[Assessment],
    policy: &SchemePolicy,
) -> Result<Vec<DecidedClaim>, IssueError> {
    let assurance = request.assurance()?;
    let mut decided = Vec::with_capacity(request.claims.len());
    for claim in &request.claims {
        let assessment = assessments
            .iter()
            .find(|a| a.catalogue.id == claim.framework)
            .ok_or_else(|| IssueError::MissingAssessment {
                framework: claim.framework.clone(),
            })?;
        let catalogue = &assessment.catalogue;
        if let Some(version) = &claim.version {
            if *version != catalogue.mark_version && *version != catalogue.version {
                return Err(IssueError::invalid(
                    "claims.version",
                    format!(
                        "{} is catalogued at release {}, not {version}",
                        catalogue.id, catalogue.mark_version
                    ),
                ));
            }
        }
        // The saved assessment's own target first, so the record digest in the registry is the
        // one `assess --save` printed; else the class asked for; else the highest class the
        // catalogue can certify (a catalogue with none is refused by `assess`).
        let target = assessment
            .target_class
            .or(claim.class)
            .or_else(|| catalogue.highest_defined_level())
            .unwrap_or(catalogue.first_level());
        let decision = assessment::assess(catalogue, target, &assessment.responses)
            .map_err(|e| IssueError::invalid("assessment", e.to_string()))?;
        if let Some(first) = decision.unconfirmed_rows.first() {
            if policy.refuse_provisional.contains(&catalogue.id) {
                return Err(IssueError::ProvisionalDecision {
                    framework: catalogue.id.clone(),
                    release: catalogue.mark_version.clone(),
                    rows: decision.unconfirmed_rows.len(),
                    first: first.clone(),
                });
            }
        }
        let policy_max = match assurance {
            Assurance::SelfAssessment => {
                policy.self_assessment_max_class.get(&catalogue.id).copied()
            }
            _ => None,
        };
        let class = match (claim.class, decision.achieved_class) {
            (Some(asked), Some(achieved)) if asked <= achieved => asked,
            (Some(asked), achieved) => {
                return Err(IssueError::ClassNotAchieved {
                    framework: catalogue.id.clone(),
                    requested: asked,
                    achieved,
                    blocking: decision
                        .blocking_for_target
                        .iter()
                        .map(|b| b.id.clone())
                        .collect(),
                })
            }
            (None, Some(achieved)) => policy_max.map_or(achieved, |max| achieved.min(max)),
            (None, None) => {
                return Err(IssueError::ClassNotAchieved {
                    framework: catalogue.id.clone(),
                    requested: catalogue.first_level(),
                    achieved: None,
                    blocking: decision.blocking.iter().map(|b| b.id.clone()).collect(),
                })
            }
        };
        if let Some(max) = policy_max.filter(|max| class > *max) {
            return Err(IssueError::ThirdPartyRequired {
                framework: catalogue.id.clone(),
                class,
                max_self: max,
            });
        }
        decided.push(DecidedClaim {
            framework: catalogue.number,
            version: catalogue.mark_version.clone(),
            class,
            decision,
        });
    }
    Ok(decided)
}
