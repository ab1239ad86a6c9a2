//! Framework catalogues: data files (`issuer/frameworks/*.toml`), loaded and validated at
//! start-up. Schema: `spec/frameworks.md`.

use std::collections::HashSet;
use std::sync::Arc;

use serde::Deserialize;
use trustmark_format::FrameworkId;

use super::AssessmentError;

/// How a requirement applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applicability {
    /// Mandatory from this class (level) up.
    Mandatory {
        /// Lowest class at which the requirement is mandatory.
        from: u8,
    },
    /// Mandatory where a condition holds (ETSI "M C"); not applicable only with the condition
    /// stated.
    MandatoryConditional {
        /// The condition, in words.
        condition: String,
    },
    /// Advisory (IoTSF's default).
    Advisory,
    /// Recommended (ETSI "R").
    Recommended,
    /// Recommended where a condition holds (ETSI "R C").
    RecommendedConditional {
        /// The condition, in words.
        condition: String,
    },
    /// A blank row kept so numbering stays stable.
    Reserved,
}

impl Applicability {
    /// The lowest class at which a met response is required, for mandatory kinds.
    pub fn mandatory_from(&self, first_level: u8) -> Option<u8> {
        match self {
            Self::Mandatory { from } => Some(*from),
            Self::MandatoryConditional { .. } => Some(first_level),
            _ => None,
        }
    }

    /// Whether the row is advisory or recommended (unmet answers become findings).
    pub fn is_advisory(&self) -> bool {
        matches!(
            self,
            Self::Advisory | Self::Recommended | Self::RecommendedConditional { .. }
        )
    }

    /// Whether the row applies only under a condition.
    pub fn is_conditional(&self) -> bool {
        matches!(
            self,
            Self::MandatoryConditional { .. } | Self::RecommendedConditional { .. }
        )
    }

    /// Name used in the data files and JSON.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Mandatory { .. } => "mandatory",
            Self::MandatoryConditional { .. } => "mandatory-conditional",
            Self::Advisory => "advisory",
            Self::Recommended => "recommended",
            Self::RecommendedConditional { .. } => "recommended-conditional",
            Self::Reserved => "reserved",
        }
    }
}

/// One requirement row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    /// The framework's own number ("2.4.3.1", "5.1-1", "1").
    pub id: String,
    /// Section ("2.4.3", "5.1", "Schedule 1").
    pub section: String,
    /// Short title (a paraphrase).
    pub title: String,
    /// How it applies.
    pub applicability: Applicability,
    /// Whether number and applicability were confirmed from the framework's text.
    pub confirmed: bool,
    /// Where the source contradicts itself, or what could not be confirmed.
    pub note: Option<String>,
    /// Where the row was read (a page or document, as precise as the source allows).
    pub source: Option<String>,
    /// The applicability as the framework prints it ("M of 2 and above"), where recorded.
    pub class_text: Option<String>,
}

/// What a class (level) of a framework is for, in the framework's terms, paraphrased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassMeaning {
    /// The class.
    pub level: u8,
    /// What it means, in plain words.
    pub meaning: String,
    /// Where it was read.
    pub source: String,
}

/// A framework catalogue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalogue {
    /// Stable short id (`iotsf-icaf`).
    pub id: String,
    /// Number used in marks.
    pub number: FrameworkId,
    /// Full name.
    pub name: String,
    /// The release catalogued.
    pub version: String,
    /// The release as written in marks (at most 16 bytes): `mark_version` in the file, or
    /// `version`.
    pub mark_version: String,
    /// Whether this is the release used when a caller names none (one per framework).
    pub default_release: bool,
    /// The classes (levels), ascending.
    pub levels: Vec<u8>,
    /// Where the rows come from.
    pub source: String,
    /// "Not applicable" meets an unconditional mandatory row only if this is false (ETSI EN 303
    /// 645 allows NA only for conditional provisions).
    pub na_requires_condition: bool,
    /// An unmet recommendation without a justification blocks compliance (ETSI EN 303 645).
    pub unjustified_recommendation_blocks: bool,
    /// What each class is for, where the catalogue says (in level order; may be empty).
    pub classes: Vec<ClassMeaning>,
    /// The rows, in the framework's order.
    pub requirements: Vec<Requirement>,
    /// Row position by id.
    index: std::collections::HashMap<String, usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogueFile {
    id: String,
    number: u16,
    name: String,
    version: String,
    #[serde(default)]
    mark_version: Option<String>,
    #[serde(default)]
    default_release: bool,
    levels: Vec<u8>,
    source: String,
    #[serde(default)]
    na_requires_condition: bool,
    #[serde(default)]
    unjustified_recommendation_blocks: bool,
    #[serde(default)]
    class: Vec<ClassFile>,
    requirement: Vec<RequirementFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClassFile {
    level: u8,
    meaning: String,
    source: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RequirementFile {
    id: String,
    section: String,
    title: String,
    applicability: String,
    mandatory_from: Option<u8>,
    condition: Option<String>,
    confirmed: bool,
    note: Option<String>,
    source: Option<String>,
    class_text: Option<String>,
}

/// The catalogues built into this release, as (file name, contents).
const BUILT_IN: [(&str, &str); 5] = [
    (
        "iotsf-icaf-3.0.toml",
        include_str!("../../frameworks/iotsf-icaf-3.0.toml"),
    ),
    (
        "iotsf-icaf-4.0.toml",
        include_str!("../../frameworks/iotsf-icaf-4.0.toml"),
    ),
    (
        "etsi-en-303-645.toml",
        include_str!("../../frameworks/etsi-en-303-645.toml"),
    ),
    (
        "uk-psti.toml",
        include_str!("../../frameworks/uk-psti.toml"),
    ),
    (
        "nist-ir-8425.toml",
        include_str!("../../frameworks/nist-ir-8425.toml"),
    ),
];

/// A built-in data file parsed once per process, or the file and reason it is invalid.
pub(super) type Parsed<T> = std::sync::OnceLock<Result<T, (String, String)>>;

/// The value in `cell`, parsed by `parse` on first use; an invalid file is an
/// [`AssessmentError::Catalogue`] every time it is asked for.
pub(super) fn parsed_once<T>(
    cell: &'static Parsed<T>,
    parse: impl FnOnce() -> Result<T, (String, String)>,
) -> Result<&'static T, AssessmentError> {
    cell.get_or_init(parse)
        .as_ref()
        .map_err(|(file, reason)| AssessmentError::Catalogue {
            file: file.clone(),
            reason: reason.clone(),
        })
}

impl AssessmentError {
    /// The file and reason of an invalid built-in data file, as [`Parsed`] keeps them; an error
    /// of another kind is reported against `file`.
    pub(super) fn file_and_reason(self, file: &str) -> (String, String) {
        match self {
            Self::Catalogue { file, reason } => (file, reason),
            other => (file.to_owned(), other.to_string()),
        }
    }
}

static BUILT_IN_CATALOGUES: Parsed<Vec<Arc<Catalogue>>> = std::sync::OnceLock::new();

/// Every built-in catalogue (every release of every framework), loaded and validated on first
/// use.
pub fn built_in() -> Result<&'static [Arc<Catalogue>], AssessmentError> {
    parsed_once(&BUILT_IN_CATALOGUES, || {
        let catalogues = BUILT_IN
            .iter()
            .map(|(file, text)| {
                Catalogue::from_toml(file, text)
                    .map(Arc::new)
                    .map_err(|e| e.file_and_reason(file))
            })
            .collect::<Result<Vec<_>, _>>()?;
        check_releases(&catalogues)?;
        Ok(catalogues)
    })
    .map(Vec::as_slice)
}

/// Each framework's releases are distinct, and exactly one is its default (a framework with
/// one release needs no flag).
fn check_releases(catalogues: &[Arc<Catalogue>]) -> Result<(), (String, String)> {
    for c in catalogues {
        let releases: Vec<&Arc<Catalogue>> =
            catalogues.iter().filter(|other| other.id == c.id).collect();
        let bad = |reason: String| Err((c.id.clone(), reason));
        if releases
            .iter()
            .filter(|other| other.version == c.version || other.mark_version == c.mark_version)
            .count()
            > 1
        {
            return bad(format!("release {} is built in twice", c.version));
        }
        let defaults = releases.iter().filter(|r| r.default_release).count();
        if releases.len() > 1 && defaults != 1 {
            return bad(format!(
                "{} releases are built in and {defaults} is marked default_release (exactly one must be)",
                releases.len()
            ));
        }
    }
    Ok(())
}

/// The built-in catalogue of framework `id`, at `release` (its `version` or `mark_version`),
/// or at its default release.
pub fn find(id: &str, release: Option<&str>) -> Result<Arc<Catalogue>, AssessmentError> {
    let all = built_in()?;
    let releases: Vec<&Arc<Catalogue>> = all.iter().filter(|c| c.id == id).collect();
    if releases.is_empty() {
        let mut known: Vec<&str> = all.iter().map(|c| c.id.as_str()).collect();
        known.dedup();
        return Err(AssessmentError::UnknownFramework {
            id: id.to_owned(),
            known: known.join(", "),
        });
    }
    let found = match release {
        Some(release) => releases
            .iter()
            .find(|c| c.version == release || c.mark_version == release),
        None => releases
            .iter()
            .find(|c| c.default_release)
            .or(releases.first().filter(|_| releases.len() == 1)),
    };
    found
        .map(|c| Arc::clone(c))
        .ok_or_else(|| AssessmentError::UnknownRelease {
            framework: id.to_owned(),
            release: release.unwrap_or_default().to_owned(),
            known: releases
                .iter()
                .map(|c| c.mark_version.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

impl Catalogue {
    /// Parses and validates a catalogue file; `file` names it in errors.
    pub fn from_toml(file: &str, text: &str) -> Result<Self, AssessmentError> {
        let bad = |reason: String| AssessmentError::Catalogue {
            file: file.to_owned(),
            reason,
        };
        let raw: CatalogueFile = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        if raw.levels.is_empty() || raw.levels.windows(2).any(|w| w[0] >= w[1]) {
            return Err(bad("levels must be a non-empty ascending list".into()));
        }
        let first_level = raw.levels[0];
        let mut seen = HashSet::new();
        let mut requirements = Vec::with_capacity(raw.requirement.len());
        for row in raw.requirement {
            let at = |reason: &str| bad(format!("requirement {:?}: {reason}", row.id));
            if row.id.trim().is_empty() || row.id.chars().any(char::is_whitespace) {
                return Err(at("id must be non-empty without spaces"));
            }
            if !seen.insert(row.id.clone()) {
                return Err(at("duplicate id"));
            }
            if row.section.trim().is_empty() || row.title.trim().is_empty() {
                return Err(at("section and title are required"));
            }
            let condition = || {
                row.condition
                    .clone()
                    .ok_or_else(|| at("a conditional row needs its condition"))
            };
            let applicability = match (row.applicability.as_str(), row.mandatory_from) {
                ("mandatory", Some(from)) if raw.levels.contains(&from) => {
                    Applicability::Mandatory { from }
                }
                ("mandatory", Some(_)) => {
                    return Err(at("mandatory_from is not one of the levels"))
                }
                ("mandatory", None) if raw.levels.len() == 1 => {
                    Applicability::Mandatory { from: first_level }
                }
                ("mandatory", None) => return Err(at("a mandatory row needs mandatory_from")),
                ("mandatory-conditional", None) => Applicability::MandatoryConditional {
                    condition: condition()?,
                },
                ("advisory", None) => Applicability::Advisory,
                ("recommended", None) => Applicability::Recommended,
                ("recommended-conditional", None) => Applicability::RecommendedConditional {
                    condition: condition()?,
                },
                ("reserved", None) => Applicability::Reserved,
                (_, Some(_)) => return Err(at("only mandatory rows have mandatory_from")),
                (other, None) => return Err(at(&format!("unknown applicability {other:?}"))),
            };
            requirements.push(Requirement {
                id: row.id,
                section: row.section,
                title: row.title,
                applicability,
                confirmed: row.confirmed,
                note: row.note,
                source: row.source.filter(|s| !s.trim().is_empty()),
                class_text: row.class_text.filter(|s| !s.trim().is_empty()),
            });
        }
        if requirements.is_empty() {
            return Err(bad("no requirements".into()));
        }
        let number = FrameworkId(raw.number);
        if number.name() != Some(raw.id.as_str()) {
            return Err(bad(format!(
                "id {:?} and number {} disagree with the framework registry",
                raw.id, raw.number
            )));
        }
        let mut classes = Vec::with_capacity(raw.class.len());
        for class in raw.class {
            let at = |reason: &str| bad(format!("class {}: {reason}", class.level));
            if !raw.levels.contains(&class.level) {
                return Err(at("not one of the levels"));
            }
            if classes
                .iter()
                .any(|c: &ClassMeaning| c.level >= class.level)
            {
                return Err(at("classes must be listed once each, in ascending order"));
            }
            if class.meaning.trim().is_empty() || class.source.trim().is_empty() {
                return Err(at("meaning and source are required"));
            }
            classes.push(ClassMeaning {
                level: class.level,
                meaning: class.meaning,
                source: class.source,
            });
        }
        let mark_version = raw.mark_version.unwrap_or_else(|| raw.version.clone());
        if mark_version.is_empty()
            || mark_version.len() > trustmark_format::claims::MAX_FRAMEWORK_VERSION_LEN
        {
            return Err(bad("mark_version must be 1 to 16 bytes".into()));
        }
        Ok(Self {
            id: raw.id,
            number,
            name: raw.name,
            mark_version,
            default_release: raw.default_release,
            version: raw.version,
            levels: raw.levels,
            source: raw.source,
            na_requires_condition: raw.na_requires_condition,
            unjustified_recommendation_blocks: raw.unjustified_recommendation_blocks,
            classes,
            index: requirements
                .iter()
                .enumerate()
                .map(|(i, r)| (r.id.clone(), i))
                .collect(),
            requirements,
        })
    }

    /// The lowest level.
    pub fn first_level(&self) -> u8 {
        self.levels[0]
    }

    /// The highest level from which some row is mandatory: the top of what the rows define.
    /// A level above it (IoTSF class 4) has the same mandatory rows; it is reached only when
    /// an assessment targets it (`spec/assessment.md` 3.2). `None` when no row is mandatory:
    /// such a catalogue certifies nothing.
    pub fn highest_defined_level(&self) -> Option<u8> {
        let first = self.first_level();
        let top = self
            .requirements
            .iter()
            .filter_map(|r| r.applicability.mandatory_from(first))
            .max()?;
        self.levels.iter().copied().filter(|l| *l <= top).max()
    }

    /// What class `level` is for, where the catalogue says.
    pub fn class_meaning(&self, level: u8) -> Option<&ClassMeaning> {
        self.classes.iter().find(|c| c.level == level)
    }

    /// The row with this id.
    pub fn requirement(&self, id: &str) -> Option<&Requirement> {
        self.index.get(id).and_then(|i| self.requirements.get(*i))
    }

    /// The catalogue as `frameworks show --json` prints it.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "number": self.number.0,
            "name": self.name,
            "version": self.version,
            "mark_version": self.mark_version,
            "default_release": self.default_release,
            "levels": self.levels,
            "classes": self.classes.iter().map(|c| serde_json::json!({
                "level": c.level,
                "meaning": c.meaning,
                "source": c.source,
            })).collect::<Vec<_>>(),
            "requirements": self.requirements.iter().map(|r| serde_json::json!({
                "id": r.id,
                "section": r.section,
                "title": r.title,
                "applicability": r.applicability.name(),
                "mandatory_from": r.applicability.mandatory_from(self.first_level()),
                "confirmed": r.confirmed,
                "source": r.source,
                "class_text": r.class_text,
            })).collect::<Vec<_>>(),
        })
    }
}
