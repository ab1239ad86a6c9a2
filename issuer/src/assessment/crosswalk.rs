//! The crosswalk (`issuer/frameworks/crosswalk.toml`, `spec/frameworks.md` 8): which rows of
//! different frameworks a published source relates, and the pre-fill of a second framework's
//! responses from an earlier assessment ("assess once, claim many"). A pre-filled response is
//! marked as carried over with its source and meets its row only once the certifier confirms
//! it; classes are never converted between frameworks.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use serde::Deserialize;

use super::catalogue::{built_in, parsed_once, Parsed};
use super::decision::evaluate;
use super::{Answer, AssessmentError, CarriedOver, Catalogue, Response};

/// The file name used in errors.
const FILE: &str = "crosswalk.toml";

/// Evidence references joined into one carried-over response stop after this many bytes (the
/// rows they come from are all named in `carried_over.from`).
const MAX_CARRIED_EVIDENCE: usize = 1024;

/// One row of one framework: `"<framework id>:<requirement id>"` in the file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RowRef {
    /// The framework id.
    pub framework: String,
    /// The requirement id.
    pub requirement: String,
}

impl RowRef {
    fn parse(text: &str) -> Option<Self> {
        let (framework, requirement) = text.split_once(':')?;
        (!framework.is_empty() && !requirement.is_empty()).then(|| Self {
            framework: framework.to_owned(),
            requirement: requirement.to_owned(),
        })
    }
}

impl fmt::Display for RowRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.framework, self.requirement)
    }
}

/// A published source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// Short id, named by groups and links.
    pub id: String,
    /// What it is.
    pub title: String,
    /// Where it is published.
    pub url: String,
}

/// The rows one source files under one item of a reference document (a UK Code of Practice
/// guideline): the source relates them, without saying any two are equivalent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// The source.
    pub source: String,
    /// The item they are filed under.
    pub name: String,
    /// What the source says of this group beyond its rows (how a row was read), if anything.
    pub note: Option<String>,
    /// The rows.
    pub rows: Vec<RowRef>,
}

/// A directed link: the source states that meeting `from` counts towards `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The row that counts.
    pub from: RowRef,
    /// The row it counts towards.
    pub to: RowRef,
    /// The source.
    pub source: String,
    /// What the source says, paraphrased.
    pub note: String,
}

/// The crosswalk: sources, groups and links, every one checked against the built-in catalogues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crosswalk {
    /// The published sources.
    pub sources: Vec<Source>,
    /// The groups.
    pub groups: Vec<Group>,
    /// The direct links.
    pub links: Vec<Link>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CrosswalkFile {
    source: Vec<SourceFile>,
    #[serde(default)]
    group: Vec<GroupFile>,
    #[serde(default)]
    link: Vec<LinkFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceFile {
    id: String,
    title: String,
    url: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupFile {
    source: String,
    name: String,
    #[serde(default)]
    note: Option<String>,
    rows: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LinkFile {
    from: String,
    to: String,
    source: String,
    note: String,
}

static BUILT_IN_CROSSWALK: Parsed<Crosswalk> = std::sync::OnceLock::new();

/// The built-in crosswalk, loaded and checked against the built-in catalogues on first use.
pub fn crosswalk() -> Result<&'static Crosswalk, AssessmentError> {
    let catalogues = built_in()?;
    parsed_once(&BUILT_IN_CROSSWALK, || {
        Crosswalk::from_toml(include_str!("../../frameworks/crosswalk.toml"), catalogues)
            .map_err(|e| e.file_and_reason(FILE))
    })
}

/// One way a target row may be pre-filled: rows of the earlier framework and what relates them.
struct Basis<'a> {
    rows: Vec<&'a str>,
    source: String,
}

/// A second framework's responses pre-filled from an earlier assessment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prefill {
    /// The pre-filled responses (each carried over, not confirmed), in catalogue order.
    pub responses: Vec<Response>,
    /// Rows of the target framework left unanswered.
    pub unanswered: usize,
}

impl Crosswalk {
    /// Parses and checks a crosswalk: every group and link names a listed source with an
    /// address, and every row is a requirement of some release of a known framework.
    pub fn from_toml(text: &str, catalogues: &[Arc<Catalogue>]) -> Result<Self, AssessmentError> {
        let bad = |reason: String| AssessmentError::Catalogue {
            file: FILE.to_owned(),
            reason,
        };
        let raw: CrosswalkFile = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        let mut sources: Vec<Source> = Vec::with_capacity(raw.source.len());
        for s in raw.source {
            if s.id.trim().is_empty() || s.title.trim().is_empty() || s.url.trim().is_empty() {
                return Err(bad("a source needs an id, a title and a url".into()));
            }
            if sources.iter().any(|known| known.id == s.id) {
                return Err(bad(format!("source {:?} is listed twice", s.id)));
            }
            sources.push(Source {
                id: s.id,
                title: s.title,
                url: s.url,
            });
        }
        let known_source = |id: &str| {
            if sources.iter().any(|s| s.id == id) {
                Ok(())
            } else {
                Err(bad(format!(
                    "source {id:?} is not listed: links without a published source stay out"
                )))
            }
        };
        let row = |text: &str| {
            let row = RowRef::parse(text)
                .ok_or_else(|| bad(format!("{text:?} is not <framework>:<requirement>")))?;
            let releases: Vec<&Arc<Catalogue>> = catalogues
                .iter()
                .filter(|c| c.id == row.framework)
                .collect();
            if releases.is_empty() {
                return Err(bad(format!("{text}: unknown framework")));
            }
            if !releases
                .iter()
                .any(|c| c.requirement(&row.requirement).is_some())
            {
                return Err(bad(format!(
                    "{text}: no built-in release of {} has this requirement",
                    row.framework
                )));
            }
            Ok(row)
        };
        let mut groups = Vec::with_capacity(raw.group.len());
        for g in raw.group {
            known_source(&g.source)?;
            let rows = g
                .rows
                .iter()
                .map(|r| row(r))
                .collect::<Result<Vec<_>, _>>()?;
            if rows.is_empty() || rows.iter().collect::<BTreeSet<_>>().len() != rows.len() {
                return Err(bad(format!(
                    "group {:?}: rows must be listed, each once",
                    g.name
                )));
            }
            groups.push(Group {
                source: g.source,
                name: g.name,
                note: g.note,
                rows,
            });
        }
        let mut links = Vec::with_capacity(raw.link.len());
        for l in raw.link {
            known_source(&l.source)?;
            let (from, to) = (row(&l.from)?, row(&l.to)?);
            if from.framework == to.framework {
                return Err(bad(format!("link {from} -> {to}: within one framework")));
            }
            links.push(Link {
                from,
                to,
                source: l.source,
                note: l.note,
            });
        }
        Ok(Self {
            sources,
            groups,
            links,
        })
    }

    /// Whether rows of framework `from` can pre-fill rows of framework `to`: a group holds
    /// rows of both, or a link goes from one to the other (links have a direction).
    pub fn relates(&self, from: &str, to: &str) -> bool {
        let has = |rows: &[RowRef], f: &str| rows.iter().any(|r| r.framework == f);
        self.groups
            .iter()
            .any(|g| has(&g.rows, from) && has(&g.rows, to))
            || self
                .links
                .iter()
                .any(|l| l.from.framework == from && l.to.framework == to)
    }

    /// The ways `target` may be pre-filled from rows of `earlier`: the direct links into it
    /// first (all of them together, as the source states them), then each group holding it.
    fn bases<'a>(&'a self, earlier: &Catalogue, target: &RowRef) -> Vec<Basis<'a>> {
        let in_earlier =
            |r: &RowRef| r.framework == earlier.id && earlier.requirement(&r.requirement).is_some();
        let mut bases = Vec::new();
        let direct: Vec<&Link> = self
            .links
            .iter()
            .filter(|l| l.to == *target && in_earlier(&l.from))
            .collect();
        if let Some(first) = direct.first() {
            bases.push(Basis {
                rows: direct.iter().map(|l| l.from.requirement.as_str()).collect(),
                source: format!("{}: {}", first.source, first.note),
            });
        }
        for g in self.groups.iter().filter(|g| g.rows.contains(target)) {
            let rows: Vec<&str> = g
                .rows
                .iter()
                .filter(|r| in_earlier(r))
                .map(|r| r.requirement.as_str())
                .collect();
            if !rows.is_empty() {
                bases.push(Basis {
                    rows,
                    source: format!("{}: {}", g.source, g.name),
                });
            }
        }
        bases
    }

    /// Pre-fills `target`'s responses from an earlier assessment of another framework
    /// (`spec/frameworks.md` 8.3). A target row is pre-filled, Compliant, when for one of its
    /// bases every linked row the earlier assessment answered is met and at least one is
    /// Compliant with evidence; its evidence is those rows' references and it is carried over,
    /// not confirmed. Every other row is left unanswered.
    pub fn prefill(
        &self,
        earlier: &Catalogue,
        earlier_responses: &[Response],
        target: &Catalogue,
    ) -> Result<Prefill, AssessmentError> {
        if earlier.id == target.id {
            return Err(AssessmentError::NoCrosswalk {
                from: earlier.id.clone(),
                to: target.id.clone(),
                reason:
                    "one framework's releases are compared with `frameworks diff`, not carried over",
            });
        }
        if !self.relates(&earlier.id, &target.id) {
            return Err(AssessmentError::NoCrosswalk {
                from: earlier.id.clone(),
                to: target.id.clone(),
                reason: "no published source in the crosswalk relates their requirements",
            });
        }
        let answered = |id: &str| earlier_responses.iter().find(|r| r.requirement == id);
        let mut responses = Vec::new();
        let mut unanswered = 0;
        let open_rows = target
            .requirements
            .iter()
            .filter(|r| r.applicability != super::Applicability::Reserved);
        for row in open_rows {
            let me = RowRef {
                framework: target.id.clone(),
                requirement: row.id.clone(),
            };
            let carried = self.bases(earlier, &me).into_iter().find_map(|basis| {
                let used: Vec<(&str, &Response)> = basis
                    .rows
                    .iter()
                    .filter_map(|id| answered(id).map(|r| (*id, r)))
                    .collect();
                let all_met = used.iter().all(|(id, r)| {
                    earlier
                        .requirement(id)
                        .is_some_and(|req| evaluate(earlier, req, Some(r)).is_ok())
                });
                let evidence: Vec<&str> = used
                    .iter()
                    .filter(|(_, r)| r.answer == Answer::Compliant)
                    .filter_map(|(_, r)| r.evidence.as_deref())
                    .collect();
                (all_met && !evidence.is_empty()).then(|| Response {
                    requirement: row.id.clone(),
                    answer: Answer::Compliant,
                    evidence: Some(join_evidence(&evidence)),
                    justification: None,
                    carried_over: Some(CarriedOver {
                        from: format!(
                            "{} {}: {}",
                            earlier.id,
                            earlier.mark_version,
                            used.iter()
                                .map(|(id, _)| *id)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                        source: basis.source,
                        confirmed: false,
                    }),
                    row: responses.len() + 1,
                })
            });
            match carried {
                Some(response) => responses.push(response),
                None => unanswered += 1,
            }
        }
        Ok(Prefill {
            responses,
            unanswered,
        })
    }
}

/// The distinct evidence references, in order, `"; "`-joined, at most
/// [`MAX_CARRIED_EVIDENCE`] bytes before an "and N more".
fn join_evidence(refs: &[&str]) -> String {
    let mut seen = BTreeSet::new();
    let distinct: Vec<&str> = refs.iter().copied().filter(|r| seen.insert(*r)).collect();
    let mut out = String::new();
    for (i, r) in distinct.iter().enumerate() {
        if !out.is_empty() && out.len() + r.len() + 2 > MAX_CARRIED_EVIDENCE {
            out.push_str(&format!("; and {} more", distinct.len() - i));
            break;
        }
        if !out.is_empty() {
            out.push_str("; ");
        }
        out.push_str(r);
    }
    out
}

#[cfg(test)]
#[path = "crosswalk_tests.rs"]
mod tests;
