//! Certificate signing requests (PKCS#10, RFC 2986): a certifier's new key asks the scheme
//! operator for its issuer certificate, and the private key never leaves where it was made
//! (`spec/pki.md` 2.6). The request names the certifier and proves possession of the key by its
//! signature; the operator decides the scope and the validity, so the request carries neither.

use rcgen::{CertificateParams, DistinguishedName, DnType};
use trustmark_format::Algorithm;
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::prelude::FromDer;

use crate::pki::{spki_key, RcgenSigner};
use crate::{kid_for, KeyError, Signer};

/// Makes a signing request (PEM, `CERTIFICATE REQUEST`) for `key`, signed with it, naming the
/// certifier in the subject (CN and O).
pub fn certification_request(
    key: &dyn Signer,
    common_name: &str,
    organization: &str,
) -> Result<String, KeyError> {
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::OrganizationName, organization);
    name.push(DnType::CommonName, common_name);
    params.distinguished_name = name;
    Ok(params.serialize_request(&RcgenSigner(key))?.pem()?)
}

/// A signing request whose signature verified under the key it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningRequest {
    /// The key's algorithm.
    pub alg: Algorithm,
    /// The raw public key.
    pub public_key: Vec<u8>,
    /// Its kid.
    pub kid: Vec<u8>,
    /// Subject common name (the certifier).
    pub common_name: String,
    /// Subject organisation, if given.
    pub organization: Option<String>,
}

impl SigningRequest {
    /// Reads a request (PEM) and checks it: one `CERTIFICATE REQUEST` block, nothing after the
    /// request, an Ed25519 or P-256 key, a common name, and a signature that verifies under the
    /// key it carries (proof that the requester holds the private key).
    pub fn from_pem(pem_text: &str) -> Result<Self, KeyError> {
        let block = pem::parse(pem_text).map_err(|e| KeyError::Pem(e.to_string()))?;
        if block.tag() != "CERTIFICATE REQUEST" {
            return Err(KeyError::Pem(format!(
                "expected a CERTIFICATE REQUEST block, found {}",
                block.tag()
            )));
        }
        let request = match X509CertificationRequest::from_der(block.contents()) {
            Ok(([], request)) => request,
            Ok(_) => return Err(KeyError::Csr("trailing bytes after the request".into())),
            Err(e) => return Err(KeyError::Csr(format!("unparseable request: {e}"))),
        };
        let info = &request.certification_request_info;
        let (alg, public_key) = spki_key(&info.subject_pki).map_err(|e| match e {
            KeyError::Profile(reason) => KeyError::Csr(reason),
            other => other,
        })?;
        let signature_oid = request.signature_algorithm.algorithm.to_id_string();
        let expected = match alg {
            Algorithm::Es256 => "1.2.840.10045.4.3.2",
            _ => "1.3.101.112",
        };
        if signature_oid != expected {
            return Err(KeyError::Csr(format!(
                "signature algorithm {signature_oid} does not match the {alg:?} key"
            )));
        }
        request
            .verify_signature()
            .map_err(|_| KeyError::CsrSignature)?;
        let common_name = info
            .subject
            .iter_common_name()
            .next()
            .and_then(|n| n.as_str().ok())
            .filter(|cn| !cn.trim().is_empty())
            .map(str::to_owned)
            .ok_or_else(|| KeyError::Csr("the subject has no common name".into()))?;
        let organization = info
            .subject
            .iter_organization()
            .next()
            .and_then(|n| n.as_str().ok())
            .map(str::to_owned);
        Ok(Self {
            kid: kid_for(alg, &public_key),
            alg,
            public_key,
            common_name,
            organization,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SoftwareKey;

    #[test]
    fn a_request_reads_back_with_its_key_and_names() -> Result<(), KeyError> {
        for alg in [Algorithm::EdDsa, Algorithm::Es256] {
            let key = SoftwareKey::generate(alg)?;
            let pem = certification_request(&key, "Acme Test Lab", "Acme Ltd")?;
            assert!(pem.starts_with("-----BEGIN CERTIFICATE REQUEST-----"));
            let request = SigningRequest::from_pem(&pem)?;
            assert_eq!(
                (
                    request.alg,
                    request.public_key.as_slice(),
                    request.kid.as_slice()
                ),
                (alg, key.public_key(), key.kid())
            );
            assert_eq!(request.common_name, "Acme Test Lab");
            assert_eq!(request.organization.as_deref(), Some("Acme Ltd"));
        }
        Ok(())
    }

    #[test]
    fn a_request_whose_signature_does_not_verify_is_refused() -> Result<(), KeyError> {
        let key = SoftwareKey::generate(Algorithm::EdDsa)?;
        let pem = certification_request(&key, "Lab", "Lab Ltd")?;
        let block = pem::parse(&pem).map_err(|e| KeyError::Pem(e.to_string()))?;
        let mut der = block.contents().to_vec();
        // The last byte is the signature's: flip it.
        *der.last_mut().ok_or(KeyError::Crypto("empty request"))? ^= 1;
        let tampered = pem::encode(&pem::Pem::new("CERTIFICATE REQUEST", der));
        assert!(matches!(
            SigningRequest::from_pem(&tampered),
            Err(KeyError::CsrSignature)
        ));
        // A certificate is not a request.
        let not_a_request = pem.replace("CERTIFICATE REQUEST", "CERTIFICATE");
        assert!(matches!(
            SigningRequest::from_pem(&not_a_request),
            Err(KeyError::Pem(_))
        ));
        Ok(())
    }
}
