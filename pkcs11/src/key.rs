//! Keys in the token: made there (sensitive, never extractable), found again by `CKA_ID` = kid,
//! and used through the same [`Signer`] and [`SignerProvider`] traits as software keys
//! (`spec/pki.md` 12.2).

use std::sync::{Arc, Mutex};

use cryptoki::context::Function;
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, SessionState};
use trustmark_format::Algorithm;
use trustmark_keys::{kid_for, KeyError, SharedSigner, Signer, SignerProvider};

use crate::token::Token;

/// DER of the curve names in `CKA_EC_PARAMS`: the P-256 OID, and for Ed25519 the
/// PrintableString "edwards25519" (PKCS#11 3.0 allows it or the RFC 8410 OID; SoftHSM 2.6 reads
/// only the string).
const P256_PARAMS: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const ED25519_PARAMS: &[u8] = &[
    0x13, 0x0c, b'e', b'd', b'w', b'a', b'r', b'd', b's', b'2', b'5', b'5', b'1', b'9',
];
/// The same curve as an OID (1.3.101.112), as other tokens write it.
const ED25519_OID: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];

/// The label of every key this crate makes.
pub(crate) const LABEL: &str = "trustmark signing key";

/// The two curves the token profile allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Curve {
    Ed25519,
    P256,
}

impl Curve {
    pub(crate) fn of(alg: Algorithm) -> Result<Self, KeyError> {
        match alg {
            Algorithm::EdDsa => Ok(Self::Ed25519),
            Algorithm::Es256 => Ok(Self::P256),
            other => Err(KeyError::Store(format!(
                "{other:?} keys cannot be kept in a token"
            ))),
        }
    }

    pub(crate) fn params(self) -> &'static [u8] {
        match self {
            Self::Ed25519 => ED25519_PARAMS,
            Self::P256 => P256_PARAMS,
        }
    }

    /// Bytes of the raw public key.
    fn point_len(self) -> usize {
        match self {
            Self::Ed25519 => 32,
            Self::P256 => 65,
        }
    }

    fn generation_mechanism(self) -> Mechanism<'static> {
        match self {
            Self::Ed25519 => Mechanism::EccEdwardsKeyPairGen,
            Self::P256 => Mechanism::EccKeyPairGen,
        }
    }

    /// `CKM_EDDSA` (pure Ed25519) over the message, or `CKM_ECDSA` over its SHA-256 digest.
    fn signing_mechanism(self) -> Mechanism<'static> {
        match self {
            Self::Ed25519 => Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure)),
            Self::P256 => Mechanism::Ecdsa,
        }
    }
}

/// The raw public key from `CKA_EC_POINT`: a DER OCTET STRING around the point (PKCS#11), or
/// the bare point (some tokens).
fn public_key_from_point(alg: Algorithm, point: &[u8]) -> Result<Vec<u8>, KeyError> {
    let curve = Curve::of(alg)?;
    let len = curve.point_len();
    let raw = match point {
        [0x04, n, rest @ ..] if usize::from(*n) == len && rest.len() == len => rest,
        bare if bare.len() == len => bare,
        _ => {
            return Err(KeyError::Store(format!(
                "the token gave a {}-byte public point, not a {alg:?} key",
                point.len()
            )))
        }
    };
    if curve == Curve::P256 && raw.first() != Some(&0x04) {
        return Err(KeyError::Store(
            "the token gave a compressed P-256 point".into(),
        ));
    }
    Ok(raw.to_vec())
}

/// The algorithm of a key pair from its key type and curve.
fn algorithm_of(key_type: KeyType, params: &[u8]) -> Option<Algorithm> {
    if key_type == KeyType::EC && params == P256_PARAMS {
        Some(Algorithm::Es256)
    } else if key_type == KeyType::EC_EDWARDS && (params == ED25519_PARAMS || params == ED25519_OID)
    {
        Some(Algorithm::EdDsa)
    } else {
        None
    }
}

/// A signing key held in the token.
pub struct TokenKey {
    token: Arc<Token>,
    alg: Algorithm,
    public_key: Vec<u8>,
    kid: Vec<u8>,
    /// The private key's handle, valid in the connection of the given generation.
    handle: Mutex<Option<(u64, ObjectHandle)>>,
}

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKey")
            .field("alg", &self.alg)
            .field("kid", &hex::encode(&self.kid))
            .finish_non_exhaustive()
    }
}

/// Finds the private key with `CKA_ID` = `kid`. Private keys are visible only to a logged-in
/// session, so when none is found and the session is no longer logged in (the token was reset,
/// or put back after being pulled out), that is reported as `CKR_USER_NOT_LOGGED_IN`, a fault
/// that makes the token reconnect and log in again, rather than as an unknown key.
fn find_private(session: &Session, kid: &[u8]) -> Result<Option<ObjectHandle>, CkError> {
    let found = session.find_objects(&[
        Attribute::Class(ObjectClass::PRIVATE_KEY),
        Attribute::Id(kid.to_vec()),
    ])?;
    if let Some(handle) = found.first() {
        return Ok(Some(*handle));
    }
    match session.get_session_info()?.session_state() {
        SessionState::RoUser | SessionState::RwUser => Ok(None),
        _ => Err(CkError::Pkcs11(
            RvError::UserNotLoggedIn,
            Function::FindObjects,
        )),
    }
}

impl Signer for TokenKey {
    fn algorithm(&self) -> Algorithm {
        self.alg
    }

    fn public_key(&self) -> &[u8] {
        &self.public_key
    }

    fn kid(&self) -> &[u8] {
        &self.kid
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let cached = *self.handle.lock().unwrap_or_else(|e| e.into_inner());
        let kid = self.kid.clone();
        let curve = Curve::of(self.alg)?;
        // ES256: the token signs the SHA-256 digest (CKM_ECDSA); Ed25519 signs the message.
        let input = match curve {
            Curve::P256 => ring::digest::digest(&ring::digest::SHA256, message)
                .as_ref()
                .to_vec(),
            Curve::Ed25519 => message.to_vec(),
        };
        let (generation, handle, mut signature) =
            self.token.run("sign", move |session, generation| {
                let mut known = match cached {
                    Some((g, handle)) if g == generation => Some(handle),
                    _ => None,
                };
                // A handle that went stale because another process changed the token is looked
                // up once more; a key that was there and is gone is a fault (the token changed
                // under us: pulled out, or replaced), not an unknown kid.
                let stale = |e: &CkError| {
                    matches!(
                        e,
                        CkError::Pkcs11(
                            RvError::ObjectHandleInvalid | RvError::KeyHandleInvalid,
                            _
                        )
                    )
                };
                loop {
                    let looked_up = known.is_none();
                    let handle = match known {
                        Some(handle) => handle,
                        None => match find_private(session, &kid)? {
                            Some(handle) => handle,
                            None if cached.is_some() => {
                                return Err(CkError::Pkcs11(
                                    RvError::ObjectHandleInvalid,
                                    Function::FindObjects,
                                ))
                            }
                            None => return Ok((generation, None, Vec::new())),
                        },
                    };
                    match session.sign(&curve.signing_mechanism(), handle, &input) {
                        Ok(signature) => return Ok((generation, Some(handle), signature)),
                        Err(e) if stale(&e) && !looked_up => known = None,
                        Err(e) => return Err(e),
                    }
                }
            })?;
        let Some(handle) = handle else {
            return Err(KeyError::UnknownKid(hex::encode(&self.kid)));
        };
        *self.handle.lock().unwrap_or_else(|e| e.into_inner()) = Some((generation, handle));
        if signature.len() != 64 {
            return Err(KeyError::Store(format!(
                "the token gave a {}-byte signature, not 64",
                signature.len()
            )));
        }
        if curve == Curve::P256 {
            trustmark_format::ecdsa::normalize_s(&mut signature);
        }
        Ok(signature)
    }
}

/// How a private key is protected in the token (`CKA_SENSITIVE`, `CKA_EXTRACTABLE`,
/// `CKA_ALWAYS_SENSITIVE`, `CKA_NEVER_EXTRACTABLE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Protection {
    /// The key's value cannot be read.
    pub sensitive: bool,
    /// The key can be wrapped out of the token.
    pub extractable: bool,
    /// The key has been sensitive since it was made (false for an imported key).
    pub always_sensitive: bool,
    /// The key has never been extractable (false for an imported key).
    pub never_extractable: bool,
}

/// Keys made and kept in a token, found by kid. Keys found once are remembered (with their
/// handle, valid until the token reconnects), so signing a mark costs one `C_Sign` and no
/// object search.
#[derive(Clone)]
pub struct TokenProvider {
    token: Arc<Token>,
    known: Arc<std::sync::RwLock<std::collections::HashMap<Vec<u8>, SharedSigner>>>,
}

impl std::fmt::Debug for TokenProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenProvider")
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

impl TokenProvider {
    /// Keys in `token`.
    pub fn new(token: Arc<Token>) -> Self {
        Self {
            token,
            known: Arc::default(),
        }
    }

    /// The token.
    pub fn token(&self) -> &Arc<Token> {
        &self.token
    }

    /// The key, remembered by kid.
    fn key(&self, alg: Algorithm, public_key: Vec<u8>, kid: Vec<u8>) -> SharedSigner {
        let key: SharedSigner = Arc::new(TokenKey {
            token: Arc::clone(&self.token),
            alg,
            public_key,
            kid: kid.clone(),
            handle: Mutex::new(None),
        });
        self.known
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(kid, Arc::clone(&key));
        key
    }
}

impl TokenProvider {
    /// How the private key with `kid` is protected.
    pub fn protection(&self, kid: &[u8]) -> Result<Protection, KeyError> {
        let id = kid.to_vec();
        let found = self
            .token
            .run("read a key's protection", move |session, _| {
                let Some(private) = find_private(session, &id)? else {
                    return Ok(None);
                };
                let mut protection = Protection {
                    sensitive: false,
                    extractable: true,
                    always_sensitive: false,
                    never_extractable: false,
                };
                for attribute in session.get_attributes(
                    private,
                    &[
                        AttributeType::Sensitive,
                        AttributeType::Extractable,
                        AttributeType::AlwaysSensitive,
                        AttributeType::NeverExtractable,
                    ],
                )? {
                    match attribute {
                        Attribute::Sensitive(v) => protection.sensitive = v,
                        Attribute::Extractable(v) => protection.extractable = v,
                        Attribute::AlwaysSensitive(v) => protection.always_sensitive = v,
                        Attribute::NeverExtractable(v) => protection.never_extractable = v,
                        _ => {}
                    }
                }
                Ok(Some(protection))
            })?;
        found.ok_or_else(|| KeyError::UnknownKid(hex::encode(kid)))
    }
}

impl SignerProvider for TokenProvider {
    fn generate(&self, alg: Algorithm) -> Result<SharedSigner, KeyError> {
        let curve = Curve::of(alg)?;
        let params = curve.params();
        // A random temporary id until the public key, and so the kid, is known.
        let mut temporary = [0u8; 16];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut temporary)
            .map_err(|_| KeyError::Crypto("random id"))?;
        // One job: the pair is made and named by its kid back to back on one session.
        let made = self.token.run("generate a key", move |session, _| {
            let public_template = [
                Attribute::Token(true),
                Attribute::Private(false),
                Attribute::Verify(true),
                Attribute::EcParams(params.to_vec()),
                Attribute::Id(temporary.to_vec()),
                Attribute::Label(LABEL.into()),
            ];
            let private_template = [
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Sensitive(true),
                Attribute::Extractable(false),
                Attribute::Sign(true),
                Attribute::Id(temporary.to_vec()),
                Attribute::Label(LABEL.into()),
            ];
            // Mechanisms hold raw pointers (not `Send`), so each is made where it is used.
            session.generate_key_pair(
                &curve.generation_mechanism(),
                &public_template,
                &private_template,
            )?;
            // The objects are found again by their temporary id rather than through the handles
            // just returned, which another process writing the token can make stale.
            let by_temporary = |class: ObjectClass| {
                session.find_objects(&[Attribute::Class(class), Attribute::Id(temporary.to_vec())])
            };
            let named = by_temporary(ObjectClass::PUBLIC_KEY).and_then(|publics| {
                let point = match publics.first() {
                    Some(public) => match session
                        .get_attributes(*public, &[AttributeType::EcPoint])?
                        .pop()
                    {
                        Some(Attribute::EcPoint(point)) => point,
                        _ => Vec::new(),
                    },
                    None => Vec::new(),
                };
                let Ok(raw) = public_key_from_point(alg, &point) else {
                    return Ok(Err(point.len()));
                };
                let kid = kid_for(alg, &raw);
                for class in [ObjectClass::PUBLIC_KEY, ObjectClass::PRIVATE_KEY] {
                    for object in by_temporary(class)? {
                        session.update_attributes(object, &[Attribute::Id(kid.clone())])?;
                    }
                }
                Ok(Ok((raw, kid)))
            });
            if !matches!(named, Ok(Ok(_))) {
                // Leave no half-made key behind.
                for class in [ObjectClass::PUBLIC_KEY, ObjectClass::PRIVATE_KEY] {
                    for object in by_temporary(class).unwrap_or_default() {
                        let _ = session.destroy_object(object);
                    }
                }
            }
            named
        })?;
        match made {
            Ok((raw, kid)) => Ok(self.key(alg, raw, kid)),
            Err(len) => Err(KeyError::Store(format!(
                "the token gave a {len}-byte public point, not a {alg:?} key"
            ))),
        }
    }

    fn kind(&self) -> &'static str {
        "pkcs11"
    }

    fn status(&self) -> Result<(), String> {
        self.token.status()
    }

    fn may_block(&self) -> bool {
        true
    }

    fn signer(&self, kid: &[u8]) -> Result<SharedSigner, KeyError> {
        if let Some(key) = self
            .known
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(kid)
        {
            return Ok(Arc::clone(key));
        }
        let id = kid.to_vec();
        let found = self.token.run("find a key", move |session, _| {
            if find_private(session, &id)?.is_none() {
                return Ok(None);
            }
            let publics = session.find_objects(&[
                Attribute::Class(ObjectClass::PUBLIC_KEY),
                Attribute::Id(id.clone()),
            ])?;
            let Some(public) = publics.first() else {
                return Ok(Some(None));
            };
            let attributes = session.get_attributes(
                *public,
                &[
                    AttributeType::KeyType,
                    AttributeType::EcParams,
                    AttributeType::EcPoint,
                ],
            )?;
            let (mut key_type, mut params, mut point) = (None, Vec::new(), Vec::new());
            for attribute in attributes {
                match attribute {
                    Attribute::KeyType(t) => key_type = Some(t),
                    Attribute::EcParams(p) => params = p,
                    Attribute::EcPoint(p) => point = p,
                    _ => {}
                }
            }
            Ok(Some(key_type.map(|t| (t, params, point))))
        })?;
        let Some(found) = found else {
            return Err(KeyError::UnknownKid(hex::encode(kid)));
        };
        let Some((key_type, params, point)) = found else {
            return Err(KeyError::Store(format!(
                "key {} has no public key object in the token",
                hex::encode(kid)
            )));
        };
        let alg = algorithm_of(key_type, &params).ok_or_else(|| {
            KeyError::Store(format!(
                "key {} in the token is neither Ed25519 nor P-256",
                hex::encode(kid)
            ))
        })?;
        let raw = public_key_from_point(alg, &point)?;
        if kid_for(alg, &raw) != kid {
            return Err(KeyError::Store(format!(
                "the token's key named {} holds another public key",
                hex::encode(kid)
            )));
        }
        Ok(self.key(alg, raw, kid.to_vec()))
    }
}
