//! Whether a claim lies inside an issuer key's accreditation (`spec/pki.md` 11.4). The check is
//! the verifiers' (`IssuerScope::allows`), run before signing, with the limit that refuses named.

use trustmark_format::{Assurance, FrameworkId, IssuerScope};

use crate::{DomainError, ScopeLimit};

/// Which limit of `scope` a claim of `class` in `framework` at `assurance` passes, if any. The
/// assurance is checked first, then the framework, then the class.
pub fn limit_passed(
    scope: &IssuerScope,
    framework: FrameworkId,
    class: u8,
    assurance: Assurance,
) -> Option<ScopeLimit> {
    if !scope.assurances.contains(&assurance) {
        return Some(ScopeLimit::AssuranceNotAllowed {
            allowed: scope.assurances.clone(),
        });
    }
    let Some(entry) = scope.frameworks.iter().find(|s| s.framework == framework) else {
        return Some(ScopeLimit::FrameworkNotAccredited {
            accredited: scope.frameworks.iter().map(|s| s.framework).collect(),
        });
    };
    (class > entry.max_class).then_some(ScopeLimit::ClassAbove {
        max_class: entry.max_class,
    })
}

/// Refuses the first claim (framework, class, assurance) outside `scope`, naming the key `kid`.
pub fn check_claims(
    kid: &[u8],
    scope: &IssuerScope,
    claims: impl IntoIterator<Item = (FrameworkId, u8, Assurance)>,
) -> Result<(), DomainError> {
    for (framework, class, assurance) in claims {
        if let Some(limit) = limit_passed(scope, framework, class, assurance) {
            return Err(DomainError::OutsideScope {
                kid: hex::encode(kid),
                framework,
                class,
                assurance,
                limit,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use trustmark_format::FrameworkScope;

    use super::*;

    fn scope() -> IssuerScope {
        IssuerScope {
            frameworks: vec![FrameworkScope {
                framework: FrameworkId::IOTSF_ICAF,
                max_class: 2,
            }],
            assurances: vec![Assurance::ThirdParty],
        }
    }

    #[test]
    fn each_limit_is_named_and_agrees_with_the_verifiers_rule() {
        let s = scope();
        let cases = [
            (FrameworkId::IOTSF_ICAF, 2, Assurance::ThirdParty, None),
            (
                FrameworkId::IOTSF_ICAF,
                3,
                Assurance::ThirdParty,
                Some(ScopeLimit::ClassAbove { max_class: 2 }),
            ),
            (
                FrameworkId::UK_PSTI,
                1,
                Assurance::ThirdParty,
                Some(ScopeLimit::FrameworkNotAccredited {
                    accredited: vec![FrameworkId::IOTSF_ICAF],
                }),
            ),
            (
                FrameworkId::IOTSF_ICAF,
                1,
                Assurance::SelfAssessment,
                Some(ScopeLimit::AssuranceNotAllowed {
                    allowed: vec![Assurance::ThirdParty],
                }),
            ),
        ];
        for (framework, class, assurance, expected) in cases {
            let limit = limit_passed(&s, framework, class, assurance);
            assert_eq!(limit, expected);
            assert_eq!(limit.is_none(), s.allows(framework, class, assurance));
        }
    }

    #[test]
    fn the_error_names_key_claim_and_limit() {
        let error = check_claims(
            &[0xab, 0xcd, 0, 1],
            &scope(),
            [
                (FrameworkId::IOTSF_ICAF, 1, Assurance::ThirdParty),
                (FrameworkId::IOTSF_ICAF, 3, Assurance::ThirdParty),
            ],
        )
        .err()
        .map(|e| e.to_string());
        assert_eq!(
            error.as_deref(),
            Some("iotsf-icaf class 3 (third-party) is outside the accreditation of key abcd0001: the key's maximum class for it is 2")
        );
    }
}
