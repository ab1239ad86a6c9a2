//! Moving a software key into a token (`trustmark-issuer keys migrate`, `spec/pki.md` 12.5): the
//! PKCS#8 file's private key is created in the token as a sensitive, non-extractable object
//! under `CKA_ID` = its kid, with its public key beside it; the token key must then sign a test
//! message that verifies under the file's public key before the import counts.

use cryptoki::object::{Attribute, KeyType, ObjectClass};
use ring::signature::KeyPair;
use std::path::Path;
use trustmark_format::Algorithm;
use trustmark_keys::{kid_for, KeyError, SignerProvider};

use crate::key::Curve;
use crate::TokenProvider;

/// OIDs of the PKCS#8 algorithms read here.
const ED25519_OID: &str = "1.3.101.112";
const EC_PUBLIC_KEY_OID: &str = "1.2.840.10045.2.1";
const P256_OID: &str = "1.2.840.10045.3.1.7";

/// A software key read for import: its algorithm, raw public key and private value (the
/// Ed25519 seed or the P-256 scalar).
struct SoftwareSecret {
    alg: Algorithm,
    public_key: Vec<u8>,
    secret: Vec<u8>,
}

fn read_key_file(path: &Path) -> Result<SoftwareSecret, KeyError> {
    let bad = |why: &str| KeyError::Store(format!("{}: {why}", path.display()));
    let text = std::fs::read_to_string(path).map_err(|e| KeyError::Io {
        path: path.to_owned(),
        source: e,
    })?;
    let block = pem::parse(&text).map_err(|e| KeyError::Pem(e.to_string()))?;
    if block.tag() != "PRIVATE KEY" {
        return Err(bad("not a PKCS#8 PRIVATE KEY block"));
    }
    let der = block.contents();
    let info = pkcs8::PrivateKeyInfo::try_from(der).map_err(|_| bad("unreadable PKCS#8"))?;
    match info.algorithm.oid.to_string().as_str() {
        ED25519_OID => {
            // CurvePrivateKey ::= OCTET STRING (RFC 8410).
            let seed = match info.private_key {
                [0x04, 0x20, seed @ ..] if seed.len() == 32 => seed,
                _ => return Err(bad("an Ed25519 key without its 32-byte seed")),
            };
            let pair = ring::signature::Ed25519KeyPair::from_seed_unchecked(seed)
                .map_err(|_| bad("an unusable Ed25519 seed"))?;
            Ok(SoftwareSecret {
                alg: Algorithm::EdDsa,
                public_key: pair.public_key().as_ref().to_vec(),
                secret: seed.to_vec(),
            })
        }
        EC_PUBLIC_KEY_OID => {
            let curve = info
                .algorithm
                .parameters_oid()
                .map_err(|_| bad("an EC key without its curve"))?;
            if curve.to_string() != P256_OID {
                return Err(bad("an EC key on a curve other than P-256"));
            }
            let ec = sec1::EcPrivateKey::try_from(info.private_key)
                .map_err(|_| bad("unreadable SEC1 EC key"))?;
            let pair = ring::signature::EcdsaKeyPair::from_pkcs8(
                &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                der,
                &ring::rand::SystemRandom::new(),
            )
            .map_err(|_| bad("a P-256 key ring cannot use"))?;
            Ok(SoftwareSecret {
                alg: Algorithm::Es256,
                public_key: pair.public_key().as_ref().to_vec(),
                secret: ec.private_key.to_vec(),
            })
        }
        other => Err(bad(&format!("algorithm {other} is neither Ed25519 nor EC"))),
    }
}

/// What became of a key file: the kid (bytes) it is held under in the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Imported {
    /// Created in the token now.
    Created(Vec<u8>),
    /// The token already held this kid with the same public key (an earlier run).
    AlreadyThere(Vec<u8>),
}

impl TokenProvider {
    /// Imports the software key in `path` (PKCS#8 PEM). The token key is checked to sign what
    /// the file's public key verifies. A token that refuses to import private keys answers
    /// [`KeyError::Store`] naming the refusal (then rotate instead: `spec/pki.md` 12.5).
    pub fn import_key_file(&self, path: &Path) -> Result<Imported, KeyError> {
        let key = read_key_file(path)?;
        let kid = kid_for(key.alg, &key.public_key);
        match self.signer(&kid) {
            Ok(found) if found.public_key() == key.public_key.as_slice() => {
                return Ok(Imported::AlreadyThere(kid))
            }
            Ok(_) => {
                return Err(KeyError::Store(format!(
                    "the token holds another key named {}",
                    hex::encode(&kid)
                )))
            }
            Err(KeyError::UnknownKid(_)) => {}
            Err(e) => return Err(e),
        }
        let curve = Curve::of(key.alg)?;
        let (key_type, params) = match curve {
            Curve::Ed25519 => (KeyType::EC_EDWARDS, curve.params()),
            Curve::P256 => (KeyType::EC, curve.params()),
        };
        let mut point = vec![0x04, u8::try_from(key.public_key.len()).unwrap_or(0)];
        point.extend_from_slice(&key.public_key);
        let id = kid.clone();
        self.token().run("import a key", move |session, _| {
            let private = session.create_object(&[
                Attribute::Class(ObjectClass::PRIVATE_KEY),
                Attribute::KeyType(key_type),
                Attribute::EcParams(params.to_vec()),
                Attribute::Value(key.secret.clone()),
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Sensitive(true),
                Attribute::Extractable(false),
                Attribute::Sign(true),
                Attribute::Id(id.clone()),
                Attribute::Label(crate::key::LABEL.into()),
            ])?;
            let public = session.create_object(&[
                Attribute::Class(ObjectClass::PUBLIC_KEY),
                Attribute::KeyType(key_type),
                Attribute::EcParams(params.to_vec()),
                Attribute::EcPoint(point.clone()),
                Attribute::Token(true),
                Attribute::Private(false),
                Attribute::Verify(true),
                Attribute::Id(id.clone()),
                Attribute::Label(crate::key::LABEL.into()),
            ]);
            if public.is_err() {
                let _ = session.destroy_object(private);
            }
            public.map(|_| ())
        })?;
        let signer = self.signer(&kid)?;
        let check = b"trustmark key import check";
        let signature = signer.sign(check)?;
        let algorithm: &dyn ring::signature::VerificationAlgorithm = match curve {
            Curve::Ed25519 => &ring::signature::ED25519,
            Curve::P256 => &ring::signature::ECDSA_P256_SHA256_FIXED,
        };
        ring::signature::UnparsedPublicKey::new(algorithm, &key.public_key)
            .verify(check, &signature)
            .map_err(|_| {
                KeyError::Store(format!(
                    "the imported key {} does not sign for its public key; left in place, check the token",
                    hex::encode(&kid)
                ))
            })?;
        Ok(Imported::Created(kid))
    }
}
