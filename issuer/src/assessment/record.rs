//! The canonical assessment record: deterministic CBOR of what a decision rests on, whose
//! SHA-256 the issuer records with every mark issued from it. The same answers give the same
//! bytes whatever file format they came in (CSV, XLSX or JSON): rows are in catalogue order, text
//! is trimmed, blank is absent.
//!
//! ```text
//! record = { 1: framework, 2: version, 3: target_class, 4: [* row] }
//! row = [id, answer, evidence / null, justification / null, ? carried]  ; answer: 1 C, 2 P, 3 N, 4 NA
//! carried = { 1: from, 2: source, 3: confirmed }   ; only on a carried-over response
//! ```

use ciborium::Value;

use super::{Catalogue, Response};

/// The canonical record bytes.
pub fn encode(catalogue: &Catalogue, target_class: u8, responses: &[Response]) -> Vec<u8> {
    let text_or_null = |t: &Option<String>| t.clone().map_or(Value::Null, Value::Text);
    let by_id: std::collections::HashMap<&str, &Response> = responses
        .iter()
        .map(|r| (r.requirement.as_str(), r))
        .collect();
    let rows = catalogue
        .requirements
        .iter()
        .filter_map(|row| by_id.get(row.id.as_str()).copied())
        .map(|r| {
            let mut row = vec![
                Value::Text(r.requirement.clone()),
                Value::Integer(r.answer.record_value().into()),
                text_or_null(&r.evidence),
                text_or_null(&r.justification),
            ];
            if let Some(carried) = &r.carried_over {
                row.push(Value::Map(vec![
                    (Value::Integer(1.into()), Value::Text(carried.from.clone())),
                    (
                        Value::Integer(2.into()),
                        Value::Text(carried.source.clone()),
                    ),
                    (Value::Integer(3.into()), Value::Bool(carried.confirmed)),
                ]));
            }
            Value::Array(row)
        })
        .collect();
    let record = Value::Map(vec![
        (Value::Integer(1.into()), Value::Text(catalogue.id.clone())),
        (
            Value::Integer(2.into()),
            Value::Text(catalogue.version.clone()),
        ),
        (
            Value::Integer(3.into()),
            Value::Integer(target_class.into()),
        ),
        (Value::Integer(4.into()), Value::Array(rows)),
    ]);
    let mut out = Vec::new();
    // Writing to a Vec cannot fail, and every value here is encodable.
    let _ = ciborium::into_writer(&record, &mut out);
    out
}

/// SHA-256 of the canonical record.
pub fn digest(catalogue: &Catalogue, target_class: u8, responses: &[Response]) -> [u8; 32] {
    let bytes = encode(catalogue, target_class, responses);
    let digest = ring::digest::digest(&ring::digest::SHA256, &bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}
