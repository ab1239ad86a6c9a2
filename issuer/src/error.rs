//! The one error type of the issuer library.

/// Why a mark could not be issued.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IssueError {
    /// A request field is missing, malformed or out of range; the message names the field.
    #[error("invalid request: {field}: {reason}")]
    InvalidRequest {
        /// The request field.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The request asks for a claim outside the issuer's accreditation scope.
    #[error(
        "the issuer is not accredited for {framework} class {class} with {assurance} assurance"
    )]
    OutsideScope {
        /// Framework name.
        framework: String,
        /// Class asked for.
        class: u8,
        /// Assurance asked for.
        assurance: String,
    },
    /// A framework claim has no assessment.
    #[error("the {framework} claim has no assessment: pass its responses with --assessment FILE (see `trustmark-issuer assess`)")]
    MissingAssessment {
        /// Framework id.
        framework: String,
    },
    /// The request asks for a class the assessment does not achieve.
    #[error("{framework}: the request asks for class {requested} but the assessment achieves {}; unmet: {}", achieved.map_or("no class".to_owned(), |c| format!("class {c}")), blocking.join(", "))]
    ClassNotAchieved {
        /// Framework id.
        framework: String,
        /// Class asked for.
        requested: u8,
        /// Class achieved.
        achieved: Option<u8>,
        /// The unmet mandatory rows up to the class asked for.
        blocking: Vec<String>,
    },
    /// The scheme policy requires third-party assurance for this class.
    #[error("{framework} class {class} needs third-party assurance: the scheme allows self-assessment up to class {max_self}")]
    ThirdPartyRequired {
        /// Framework id.
        framework: String,
        /// Class asked for.
        class: u8,
        /// Highest self-assessed class allowed.
        max_self: u8,
    },
    /// The scheme policy refuses decisions resting on unconfirmed catalogue rows for this
    /// framework.
    #[error("{framework} {release}: the decision rests on {rows} catalogue rows not confirmed from the framework's text (first: {first}), and the scheme policy refuses provisional decisions for {framework}")]
    ProvisionalDecision {
        /// Framework id.
        framework: String,
        /// Its release.
        release: String,
        /// How many unconfirmed rows the decision lists.
        rows: usize,
        /// The first of them.
        first: String,
    },
    /// The issuer certificate is not valid at the issue time.
    #[error("the issuer certificate is not valid at the issue time (valid {not_before}..{not_after}, now {now})")]
    IssuerNotValid {
        /// Start of validity.
        not_before: u64,
        /// End of validity.
        not_after: u64,
        /// Issue time.
        now: u64,
    },
    /// A signing or key error.
    #[error(transparent)]
    Key(#[from] trustmark_keys::KeyError),
    /// A format error (a field too long for the token, for example).
    #[error("the mark cannot be encoded: {0}")]
    Format(#[from] trustmark_format::FormatError),
    /// The QR code could not be made.
    #[error("QR code: {0}")]
    Qr(String),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

impl IssueError {
    pub(crate) fn invalid(field: &str, reason: impl Into<String>) -> Self {
        Self::InvalidRequest {
            field: field.to_owned(),
            reason: reason.into(),
        }
    }
}
