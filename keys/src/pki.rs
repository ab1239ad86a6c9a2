//! Certificates: the scheme root CA and one issuer certificate per certifier key, issued with
//! rcgen and read back with x509-parser. Every certificate gets an explicit validity (rcgen's
//! default of 1975-4096 never reaches a real certificate).

use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType, IsCa, Issuer,
    KeyUsagePurpose, SerialNumber,
};
use ring::rand::SecureRandom;
use time::OffsetDateTime;
use trustmark_format::{Algorithm, IssuerScope, UnixTime};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::profile;
use crate::{kid_for, KeyError, Signer};

/// A certificate's validity period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    /// First second of validity.
    pub not_before: UnixTime,
    /// Last second of validity.
    pub not_after: UnixTime,
}

impl Validity {
    /// `days` days from `start`.
    pub fn days_from(start: UnixTime, days: u64) -> Self {
        Self {
            not_before: start,
            not_after: UnixTime(start.0 + days * 86_400),
        }
    }
}

/// Adapts a [`Signer`] to rcgen, so certificates are signed through the same trait as marks (an
/// HSM-held root key works unchanged).
pub(crate) struct RcgenSigner<'a>(pub(crate) &'a dyn Signer);

impl rcgen::PublicKeyData for RcgenSigner<'_> {
    fn der_bytes(&self) -> &[u8] {
        self.0.public_key()
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        rcgen_algorithm(self.0.algorithm())
    }
}

impl rcgen::SigningKey for RcgenSigner<'_> {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        let signature = self
            .0
            .sign(msg)
            .map_err(|_| rcgen::Error::RingUnspecified)?;
        Ok(match self.0.algorithm() {
            // X.509 carries ECDSA signatures as DER `SEQUENCE { r INTEGER, s INTEGER }`; our
            // signers return the COSE `r || s` form.
            Algorithm::Es256 => ecdsa_fixed_to_der(&signature),
            _ => signature,
        })
    }
}

/// A public key alone, as the subject of an issuer certificate.
struct SubjectKey<'a> {
    alg: Algorithm,
    public_key: &'a [u8],
}

impl rcgen::PublicKeyData for SubjectKey<'_> {
    fn der_bytes(&self) -> &[u8] {
        self.public_key
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        rcgen_algorithm(self.alg)
    }
}

fn rcgen_algorithm(alg: Algorithm) -> &'static rcgen::SignatureAlgorithm {
    match alg {
        Algorithm::Es256 => &rcgen::PKCS_ECDSA_P256_SHA256,
        _ => &rcgen::PKCS_ED25519,
    }
}

fn ecdsa_fixed_to_der(fixed: &[u8]) -> Vec<u8> {
    let (r, s) = fixed.split_at(fixed.len() / 2);
    yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_bigint_bytes(r, true);
            w.next().write_bigint_bytes(s, true);
        })
    })
}

pub(crate) fn offset_date_time(t: UnixTime) -> Result<OffsetDateTime, KeyError> {
    i64::try_from(t.0)
        .ok()
        .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
        .ok_or(KeyError::TimeOutOfRange(t.0))
}

/// A random positive 16-byte serial number (RFC 5280 allows up to 20 octets).
fn random_serial() -> Result<SerialNumber, KeyError> {
    let mut serial = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut serial)
        .map_err(|_| KeyError::Crypto("random serial number"))?;
    serial[0] &= 0x7f;
    serial[0] |= 0x01;
    Ok(SerialNumber::from_slice(&serial))
}

pub(crate) fn base_params(
    common_name: &str,
    organization: &str,
    validity: Validity,
) -> Result<CertificateParams, KeyError> {
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::OrganizationName, organization);
    name.push(DnType::CommonName, common_name);
    params.distinguished_name = name;
    params.not_before = offset_date_time(validity.not_before)?;
    params.not_after = offset_date_time(validity.not_after)?;
    params.serial_number = Some(random_serial()?);
    Ok(params)
}

/// Makes the self-signed scheme root CA certificate (PEM). Its only job is to certify issuer
/// keys (path length 0) and to sign trust lists.
pub fn root_certificate(
    root_key: &dyn Signer,
    common_name: &str,
    organization: &str,
    validity: Validity,
) -> Result<String, KeyError> {
    let mut params = base_params(common_name, organization, validity)?;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    Ok(params.self_signed(&RcgenSigner(root_key))?.pem())
}

/// What an issuer certificate certifies.
#[derive(Debug, Clone)]
pub struct IssuerCertificateRequest<'a> {
    /// The issuer key's algorithm.
    pub alg: Algorithm,
    /// The issuer's raw public key.
    pub public_key: &'a [u8],
    /// Certifier name (subject CN).
    pub common_name: &'a str,
    /// Certifier organisation (subject O).
    pub organization: &'a str,
    /// Accreditation scope.
    pub scope: &'a IssuerScope,
    /// Validity; must lie within the root's.
    pub validity: Validity,
}

/// Issues an issuer certificate (PEM) under the root.
pub fn issuer_certificate(
    request: &IssuerCertificateRequest<'_>,
    root_pem: &str,
    root_key: &dyn Signer,
) -> Result<String, KeyError> {
    request
        .scope
        .validate()
        .map_err(|e| KeyError::Profile(format!("accreditation scope: {e}")))?;
    let root = RootCertificate::from_pem(root_pem)?;
    if request.validity.not_before < root.validity.not_before
        || request.validity.not_after > root.validity.not_after
    {
        return Err(KeyError::Profile(
            "the issuer certificate's validity must lie within the root's".into(),
        ));
    }
    if root.public_key != root_key.public_key() {
        return Err(KeyError::Profile(
            "the root key does not match the root certificate".into(),
        ));
    }
    let mut params = base_params(request.common_name, request.organization, request.validity)?;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.use_authority_key_identifier_extension = true;
    params.custom_extensions = vec![
        CustomExtension::from_oid_content(
            profile::EXTENDED_KEY_USAGE_EXT,
            profile::extended_key_usage_der(),
        ),
        CustomExtension::from_oid_content(
            profile::SUBJECT_DIRECTORY_ATTRIBUTES_EXT,
            profile::scope_extension_der(request.scope),
        ),
    ];
    let issuer = Issuer::from_ca_cert_pem(root_pem, RcgenSigner(root_key))?;
    let subject = SubjectKey {
        alg: request.alg,
        public_key: request.public_key,
    };
    Ok(params.signed_by(&subject, &issuer)?.pem())
}

/// The parts of a certificate every trustmark certificate has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateInfo {
    /// Key algorithm.
    pub alg: Algorithm,
    /// Raw public key.
    pub public_key: Vec<u8>,
    /// kid of the public key.
    pub kid: Vec<u8>,
    /// Validity.
    pub validity: Validity,
    /// Subject common name.
    pub common_name: String,
    /// The certificate, DER.
    pub der: Vec<u8>,
}

/// A parsed, self-signed scheme root certificate.
pub type RootCertificate = CertificateInfo;

/// A parsed issuer certificate, verified under a root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerCertificate {
    /// Key, validity and name.
    pub info: CertificateInfo,
    /// Accreditation scope from the certificate.
    pub scope: IssuerScope,
}

fn pem_to_der(pem_text: &str) -> Result<Vec<u8>, KeyError> {
    let block = pem::parse(pem_text).map_err(|e| KeyError::Pem(e.to_string()))?;
    if block.tag() != "CERTIFICATE" {
        return Err(KeyError::Pem(format!(
            "expected a CERTIFICATE block, found {}",
            block.tag()
        )));
    }
    Ok(block.into_contents())
}

fn parse_der(der: &[u8]) -> Result<X509Certificate<'_>, KeyError> {
    match X509Certificate::from_der(der) {
        Ok(([], cert)) => Ok(cert),
        Ok(_) => Err(KeyError::Profile(
            "trailing bytes after the certificate".into(),
        )),
        Err(e) => Err(KeyError::Profile(format!("unparseable certificate: {e}"))),
    }
}

/// The algorithm and raw public key of a SubjectPublicKeyInfo: Ed25519, or ECDSA on P-256 with
/// an uncompressed point; anything else is refused.
pub(crate) fn spki_key(
    spki: &x509_parser::x509::SubjectPublicKeyInfo<'_>,
) -> Result<(Algorithm, Vec<u8>), KeyError> {
    let alg = match spki.algorithm.algorithm.to_id_string().as_str() {
        "1.3.101.112" => Algorithm::EdDsa,
        "1.2.840.10045.2.1" => {
            // id-ecPublicKey: the curve is its parameter, and only P-256 is in the profile.
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|oid| oid.to_id_string());
            if curve.as_deref() != Some("1.2.840.10045.3.1.7") {
                return Err(KeyError::Profile(
                    "an ECDSA key on a curve other than P-256".into(),
                ));
            }
            Algorithm::Es256
        }
        other => {
            return Err(KeyError::Profile(format!(
                "unsupported public key algorithm {other}"
            )))
        }
    };
    let public_key = spki.subject_public_key.data.to_vec();
    if public_key.len() != alg.public_key_len() {
        return Err(KeyError::Profile("public key has the wrong length".into()));
    }
    Ok((alg, public_key))
}

fn info(cert: &X509Certificate<'_>, der: &[u8]) -> Result<CertificateInfo, KeyError> {
    let (alg, public_key) = spki_key(cert.public_key())?;
    let time = |t: i64| {
        u64::try_from(t)
            .map(UnixTime)
            .map_err(|_| KeyError::TimeOutOfRange(0))
    };
    let validity = Validity {
        not_before: time(cert.validity().not_before.timestamp())?,
        not_after: time(cert.validity().not_after.timestamp())?,
    };
    let common_name = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .ok_or_else(|| KeyError::Profile("subject has no common name".into()))?
        .to_owned();
    Ok(CertificateInfo {
        kid: kid_for(alg, &public_key),
        alg,
        public_key,
        validity,
        common_name,
        der: der.to_vec(),
    })
}

impl CertificateInfo {
    /// Reads a root certificate: self-signed, a CA.
    pub fn from_pem(pem_text: &str) -> Result<Self, KeyError> {
        let der = pem_to_der(pem_text)?;
        let cert = parse_der(&der)?;
        if !cert.is_ca() {
            return Err(KeyError::Profile("the root certificate is not a CA".into()));
        }
        cert.verify_signature(None).map_err(|_| {
            KeyError::Profile("the root certificate is not validly self-signed".into())
        })?;
        info(&cert, &der)
    }

    /// The certificate as PEM.
    pub fn to_pem(&self) -> String {
        pem::encode(&pem::Pem::new("CERTIFICATE", self.der.clone()))
    }
}

impl IssuerCertificate {
    /// Reads an issuer certificate and checks it against the profile and the root: signed by the
    /// root, not a CA, trust-mark signing EKU, an accreditation scope, validity within the
    /// root's.
    pub fn from_pem(pem_text: &str, root: &RootCertificate) -> Result<Self, KeyError> {
        let der = pem_to_der(pem_text)?;
        let cert = parse_der(&der)?;
        let root_cert = parse_der(&root.der)?;
        cert.verify_signature(Some(root_cert.public_key()))
            .map_err(|_| KeyError::NotSignedByRoot)?;
        if cert.is_ca() {
            return Err(KeyError::Profile(
                "an issuer certificate must not be a CA".into(),
            ));
        }
        let signing_oid = profile::trust_mark_signing_oid();
        let has_eku = cert.extended_key_usage().ok().flatten().is_some_and(|eku| {
            eku.value
                .other
                .iter()
                .any(|oid| oid.as_bytes() == &signing_oid[2..])
        });
        if !has_eku {
            return Err(KeyError::Profile(
                "the certificate lacks the trust-mark signing extended key usage".into(),
            ));
        }
        let signs = cert
            .key_usage()
            .ok()
            .flatten()
            .is_some_and(|ku| ku.value.digital_signature());
        if !signs {
            return Err(KeyError::Profile(
                "the certificate's key usage does not allow digital signatures".into(),
            ));
        }
        // Only extensions this profile understands may be critical.
        if let Some(ext) = cert.iter_extensions().find(|ext| {
            ext.critical && !["2.5.29.15", "2.5.29.19"].contains(&ext.oid.to_id_string().as_str())
        }) {
            return Err(KeyError::Profile(format!(
                "unsupported critical extension {}",
                ext.oid.to_id_string()
            )));
        }
        let scope = cert
            .iter_extensions()
            .filter(|ext| ext.oid.to_id_string() == "2.5.29.9")
            .find_map(|ext| profile::parse_scope_extension(ext.value).ok().flatten())
            .ok_or_else(|| {
                KeyError::Profile("the certificate has no accreditation scope".into())
            })?;
        scope
            .validate()
            .map_err(|e| KeyError::Profile(format!("accreditation scope: {e}")))?;
        let info = info(&cert, &der)?;
        if info.validity.not_before < root.validity.not_before
            || info.validity.not_after > root.validity.not_after
        {
            return Err(KeyError::Profile(
                "the certificate's validity is not within the root's".into(),
            ));
        }
        Ok(Self { info, scope })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SoftwareKey;
    use trustmark_format::{Assurance, FrameworkId, FrameworkScope};

    fn scope() -> IssuerScope {
        IssuerScope {
            frameworks: vec![FrameworkScope {
                framework: FrameworkId::IOTSF_ICAF,
                max_class: 3,
            }],
            assurances: vec![Assurance::ThirdParty],
        }
    }

    #[test]
    fn issues_and_reads_back_both_algorithms() -> Result<(), KeyError> {
        let start = UnixTime(1_795_000_000);
        for alg in [Algorithm::EdDsa, Algorithm::Es256] {
            let root_key = SoftwareKey::generate(alg)?;
            let root_pem =
                root_certificate(&root_key, "Root", "Scheme", Validity::days_from(start, 100))?;
            let root = RootCertificate::from_pem(&root_pem)?;
            assert_eq!(root.public_key, root_key.public_key());
            assert_eq!(root.validity, Validity::days_from(start, 100));

            let issuer_key = SoftwareKey::generate(alg)?;
            let request = IssuerCertificateRequest {
                alg,
                public_key: issuer_key.public_key(),
                common_name: "Lab",
                organization: "Lab Ltd",
                scope: &scope(),
                validity: Validity::days_from(start, 50),
            };
            let pem = issuer_certificate(&request, &root_pem, &root_key)?;
            let issuer = IssuerCertificate::from_pem(&pem, &root)?;
            assert_eq!(issuer.scope, scope());
            assert_eq!(issuer.info.kid, issuer_key.kid());
            assert_eq!(issuer.info.common_name, "Lab");

            // Under another root, the signature check fails.
            let other_key = SoftwareKey::generate(alg)?;
            let other_pem = root_certificate(
                &other_key,
                "Root",
                "Scheme",
                Validity::days_from(start, 100),
            )?;
            let other = RootCertificate::from_pem(&other_pem)?;
            assert!(matches!(
                IssuerCertificate::from_pem(&pem, &other),
                Err(KeyError::NotSignedByRoot)
            ));

            // Validity beyond the root's is refused at issuance.
            let too_long = IssuerCertificateRequest {
                validity: Validity::days_from(start, 101),
                ..request
            };
            assert!(matches!(
                issuer_certificate(&too_long, &root_pem, &root_key),
                Err(KeyError::Profile(_))
            ));
        }
        Ok(())
    }

    #[test]
    fn a_root_is_not_an_issuer() -> Result<(), KeyError> {
        let key = SoftwareKey::generate(Algorithm::EdDsa)?;
        let pem = root_certificate(
            &key,
            "Root",
            "Scheme",
            Validity::days_from(UnixTime(1_795_000_000), 10),
        )?;
        let root = RootCertificate::from_pem(&pem)?;
        assert!(matches!(
            IssuerCertificate::from_pem(&pem, &root),
            Err(KeyError::Profile(_))
        ));
        Ok(())
    }
}
