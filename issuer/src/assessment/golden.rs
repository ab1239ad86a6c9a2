//! Golden decisions: for every built-in framework and release, a few assessments and the
//! decision each gives, kept in `spec/decisions/<framework>-<release>.json` (inputs as saved
//! assessments, outputs as `assess --json` prints them) so an independent implementation can
//! replay them, and so a catalogue change shows up as a reviewed diff. The test regenerates every
//! file and fails on a difference; `TRUSTMARK_BLESS_DECISIONS=1` rewrites them.

use std::path::PathBuf;

use super::{assess, built_in, saved, Answer, Applicability, Catalogue, Response};

fn compliant(id: &str) -> Response {
    Response {
        requirement: id.to_owned(),
        answer: Answer::Compliant,
        evidence: Some(format!("EV-{id}")),
        justification: None,
        carried_over: None,
        row: 0,
    }
}

/// Every row mandatory at `class` or below answered Compliant with evidence.
fn mandatory_up_to(c: &Catalogue, class: u8) -> Vec<Response> {
    c.requirements
        .iter()
        .filter(|r| {
            r.applicability
                .mandatory_from(c.first_level())
                .is_some_and(|f| f <= class)
        })
        .map(|r| compliant(&r.id))
        .collect()
}

/// `responses` with the response to `id` replaced (or added).
fn but(mut responses: Vec<Response>, changed: Response) -> Vec<Response> {
    match responses
        .iter_mut()
        .find(|r| r.requirement == changed.requirement)
    {
        Some(slot) => *slot = changed,
        None => responses.push(changed),
    }
    responses
}

fn first_row(c: &Catalogue, pick: impl Fn(&Applicability) -> bool) -> Option<String> {
    c.requirements
        .iter()
        .find(|r| pick(&r.applicability))
        .map(|r| r.id.clone())
}

/// The cases of one catalogue: (name, target class, responses).
fn cases(c: &Catalogue) -> Vec<(String, u8, Vec<Response>)> {
    let first = c.first_level();
    let top = c.levels.last().copied().unwrap_or(first);
    let defined = c.highest_defined_level().unwrap_or(first);
    let all = mandatory_up_to(c, top);
    let mut out = vec![
        ("every mandatory row met".to_owned(), defined, all.clone()),
        ("nothing answered".to_owned(), first, Vec::new()),
    ];
    if top > defined {
        out.push((
            format!("class {top} rule: every mandatory row met, class {top} targeted"),
            top,
            all.clone(),
        ));
        out.push((
            format!("class {top} rule: the same answers aimed lower stop at class {defined}"),
            first,
            all.clone(),
        ));
    }
    let top_row = first_row(c, |a| a.mandatory_from(first) == Some(defined));
    if let Some(id) = top_row {
        out.push((
            format!("worked example: the only unmet mandatory row, {id}, is mandatory from class {defined}"),
            defined,
            but(
                all.clone(),
                Response {
                    answer: Answer::NonCompliant,
                    evidence: None,
                    ..compliant(&id)
                },
            ),
        ));
    }
    if let Some(id) = first_row(c, Applicability::is_advisory) {
        out.push((
            format!("advisory or recommended row {id} partially met without a rationale"),
            defined,
            but(
                all.clone(),
                Response {
                    answer: Answer::PartiallyCompliant,
                    evidence: None,
                    ..compliant(&id)
                },
            ),
        ));
    }
    if let Some(id) = first_row(c, |a| matches!(a, Applicability::Mandatory { .. })) {
        out.push((
            format!("mandatory row {id} answered not applicable, with a justification"),
            defined,
            but(
                all,
                Response {
                    answer: Answer::NotApplicable,
                    evidence: None,
                    justification: Some("the product has no such function".into()),
                    ..compliant(&id)
                },
            ),
        ));
    }
    out
}

/// The golden file of one catalogue, as written.
fn render(c: &Catalogue) -> String {
    let cases: Vec<serde_json::Value> = cases(c)
        .into_iter()
        .map(|(name, target, responses)| {
            let decision = assess(c, target, &responses).expect("a golden case is assessable");
            serde_json::json!({
                "case": name,
                "assessment": saved(c, target, &responses),
                "decision": decision,
            })
        })
        .collect();
    let doc = serde_json::json!({
        "framework": c.id,
        "release": c.mark_version,
        "cases": cases,
    });
    serde_json::to_string_pretty(&doc).expect("JSON values serialise") + "\n"
}

fn decisions_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../spec/decisions")
}

#[test]
fn golden_decisions_per_framework_and_release_are_current() {
    let bless = std::env::var_os("TRUSTMARK_BLESS_DECISIONS").is_some();
    let mut stale = Vec::new();
    for c in built_in().unwrap() {
        let path = decisions_dir().join(format!("{}-{}.json", c.id, c.mark_version));
        let want = render(c);
        if bless {
            std::fs::create_dir_all(decisions_dir()).unwrap();
            std::fs::write(&path, &want).unwrap();
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(want.as_str()) {
            stale.push(path.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "golden decisions differ (review, then regenerate with TRUSTMARK_BLESS_DECISIONS=1 cargo test -p trustmark-issuer --lib golden): {stale:?}"
    );
}
