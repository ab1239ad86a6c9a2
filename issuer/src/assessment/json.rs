//! Reading a JSON responses document straight into typed values, under a row budget: no
//! `serde_json::Value` tree is built (a 4 MiB array of `0,` would be 64 MB of values), a
//! `responses` array stops at the budget's row count, and since every field has a fixed type,
//! no input can nest deeper than the three levels of the schema (a value of the wrong type is
//! refused where it starts, without being descended into).

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::budget::{Limit, OverBudget, UploadBudget};
use super::AssessmentError;

/// One response as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct JsonResponse {
    pub(super) requirement: String,
    pub(super) response: String,
    #[serde(default)]
    pub(super) evidence: Option<String>,
    #[serde(default)]
    pub(super) justification: Option<String>,
    #[serde(default)]
    pub(super) carried_over: Option<super::CarriedOver>,
}

/// A responses document: a bare array of responses, or an object with `responses` and,
/// for a saved assessment, `framework`, `release` and `target_class`.
pub(super) struct JsonDocument {
    pub(super) framework: Option<String>,
    pub(super) release: Option<String>,
    pub(super) target_class: Option<u8>,
    pub(super) responses: Vec<JsonResponse>,
}

/// Reads a document; the whole input must be one JSON value (white space around it allowed).
pub(super) fn read(bytes: &[u8], budget: &UploadBudget) -> Result<JsonDocument, AssessmentError> {
    let over = Cell::new(None);
    let seed = DocumentSeed {
        rows: budget.rows,
        over: &over,
    };
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let read = seed
        .deserialize(&mut deserializer)
        .and_then(|doc| deserializer.end().map(|()| doc));
    read.map_err(|e| match over.take() {
        Some(over) => AssessmentError::OverBudget(over),
        None if e.is_syntax() || e.is_eof() => AssessmentError::Responses {
            row: e.line(),
            column: e.column().to_string(),
            reason: format!("not valid JSON: {e}"),
        },
        None => AssessmentError::Responses {
            row: 0,
            column: "-".into(),
            reason: format!(
                "expected {{\"responses\": [{{\"requirement\", \"response\", \"evidence\", \"justification\"}}]}}: {e}"
            ),
        },
    })
}

/// The document, with the row budget; an exceeded budget is left in `over`.
#[derive(Clone, Copy)]
struct DocumentSeed<'a> {
    rows: u64,
    over: &'a Cell<Option<OverBudget>>,
}

impl<'de> DeserializeSeed<'de> for DocumentSeed<'_> {
    type Value = JsonDocument;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<JsonDocument, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for DocumentSeed<'_> {
    type Value = JsonDocument;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of responses or an object with \"responses\"")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<JsonDocument, A::Error> {
        Ok(JsonDocument {
            framework: None,
            release: None,
            target_class: None,
            responses: ResponsesSeed(self).visit_seq(seq)?,
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JsonDocument, A::Error> {
        let (mut framework, mut release, mut target_class, mut responses) =
            (None, None, None, None);
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match key.as_ref() {
                "framework" if framework.is_none() => {
                    framework = Some(map.next_value::<Option<String>>()?);
                }
                "release" if release.is_none() => {
                    release = Some(map.next_value::<Option<String>>()?);
                }
                "target_class" if target_class.is_none() => {
                    target_class = Some(map.next_value::<Option<u8>>()?);
                }
                "responses" if responses.is_none() => {
                    responses = Some(map.next_value_seed(ResponsesSeed(self))?);
                }
                "framework" | "release" | "target_class" | "responses" => {
                    return Err(de::Error::custom(format_args!("duplicate field `{key}`")));
                }
                other => {
                    return Err(de::Error::unknown_field(
                        other,
                        &["framework", "release", "target_class", "responses"],
                    ))
                }
            }
        }
        Ok(JsonDocument {
            framework: framework.flatten(),
            release: release.flatten(),
            target_class: target_class.flatten(),
            responses: responses.ok_or_else(|| de::Error::missing_field("responses"))?,
        })
    }
}

/// The `responses` array, refused at its first element past the row budget.
struct ResponsesSeed<'a>(DocumentSeed<'a>);

impl<'de> DeserializeSeed<'de> for ResponsesSeed<'_> {
    type Value = Vec<JsonResponse>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Vec<JsonResponse>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ResponsesSeed<'_> {
    type Value = Vec<JsonResponse>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of responses")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<JsonResponse>, A::Error> {
        let DocumentSeed { rows, over } = self.0;
        let mut out = Vec::new();
        while let Some(response) = seq.next_element::<JsonResponse>()? {
            if out.len() as u64 >= rows {
                let exceeded = OverBudget {
                    limit: Limit::Rows,
                    max: rows,
                    at: format!("responses[{}]", out.len()),
                };
                let message = exceeded.to_string();
                over.set(Some(exceeded));
                return Err(de::Error::custom(message));
            }
            out.push(response);
        }
        Ok(out)
    }
}
