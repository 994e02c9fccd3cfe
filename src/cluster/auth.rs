//! Peer authentication: the keys derived from the cluster secret, and the challenge-response
//! handshake that opens every RESP connection one node makes to another.
//!
//! ```text
//! node A (connects)                            node B (accepts)
//! HCHELLO <A> <nonce_a>               ──▶
//!                                     ◀──  [<B>, <nonce_b>, proof_b]
//! HCAUTH <proof_a>                    ──▶
//!                                     ◀──  +OK          (the connection is now A's, a peer)
//! proof_b = HMAC(k, "hc-server" | nonce_a | nonce_b | A | B)
//! proof_a = HMAC(k, "hc-client" | nonce_a | nonce_b | A | B)
//! ```
//!
//! Both sides prove they hold the key (A checks `proof_b` before it sends anything else), the
//! nonces are fresh random values from both sides so no recorded handshake can be replayed,
//! and the labels keep one side's proof from ever serving as the other's. The secret itself
//! never travels.

use crate::util::hex::unhex;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Bytes of a nonce (sent as hex).
pub const NONCE_LEN: usize = 16;

/// HMAC-SHA256 of `parts` (each length-prefixed, so no two sequences of parts collide).
fn mac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // A key of any length is accepted by HMAC; `new_from_slice` cannot fail.
    let mut m = <HmacSha256 as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    for p in parts {
        m.update(&(p.len() as u64).to_le_bytes());
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

/// A key for one purpose, derived from the cluster secret.
pub fn derive(secret: &[u8], purpose: &str) -> [u8; 32] {
    mac(secret, &[b"hypercache/v1/", purpose.as_bytes()])
}

/// This node's identity towards its peers.
pub struct PeerAuth {
    pub node_id: String,
    key: [u8; 32],
    /// Whether the key comes from a configured secret (rather than the empty default).
    pub configured: bool,
    /// With `tls.cluster`: peers are called over TLS (set once the certificate is loaded).
    pub tls: std::sync::OnceLock<std::sync::Arc<crate::tls::Tls>>,
}

impl std::fmt::Debug for PeerAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerAuth")
            .field("node_id", &self.node_id)
            .field("configured", &self.configured)
            .finish_non_exhaustive()
    }
}

/// What the accepting side remembers between HCHELLO and HCAUTH.
#[derive(Debug, Clone)]
pub struct Challenge {
    pub peer: String,
    nonce_a: Vec<u8>,
    nonce_b: Vec<u8>,
}

impl Challenge {
    /// The accepting side's nonce, sent back with its proof.
    pub fn nonce(&self) -> &[u8] {
        &self.nonce_b
    }
}

/// A fresh random nonce (from the OS-seeded CSPRNG behind UUID v4).
pub fn nonce() -> Vec<u8> {
    uuid::Uuid::new_v4().as_bytes().to_vec()
}

/// Constant-time equality of two proofs.
fn same(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

impl PeerAuth {
    /// The identity of `node_id` with the key derived from `secret` (`None`: the empty secret,
    /// which any process can derive — fine on loopback, where protected mode confines it).
    pub fn new(node_id: &str, secret: Option<&[u8]>) -> PeerAuth {
        PeerAuth {
            node_id: node_id.to_string(),
            key: derive(secret.unwrap_or(b""), "peer"),
            configured: secret.is_some(),
            tls: Default::default(),
        }
    }

    /// Accepting side, on `HCHELLO <peer> <nonce_a>`: the reply's fields and the challenge to
    /// keep for HCAUTH. `None` when the nonce is malformed.
    pub fn challenge(&self, peer: &[u8], nonce_a_hex: &[u8]) -> Option<(Challenge, Vec<u8>)> {
        let nonce_a = unhex(nonce_a_hex).filter(|n| n.len() == NONCE_LEN)?;
        if peer.is_empty() || peer.len() > 64 {
            return None;
        }
        let peer = String::from_utf8(peer.to_vec()).ok()?;
        let nonce_b = nonce();
        let proof_b = mac(
            &self.key,
            &[
                b"hc-server",
                &nonce_a,
                &nonce_b,
                peer.as_bytes(),
                self.node_id.as_bytes(),
            ],
        );
        Some((
            Challenge {
                peer,
                nonce_a,
                nonce_b,
            },
            proof_b.to_vec(),
        ))
    }

    /// Accepting side, on `HCAUTH <proof_a>`: whether the peer proved it holds the key.
    pub fn verify_client(&self, c: &Challenge, proof_a_hex: &[u8]) -> bool {
        let Some(proof) = unhex(proof_a_hex) else {
            return false;
        };
        let want = mac(
            &self.key,
            &[
                b"hc-client",
                &c.nonce_a,
                &c.nonce_b,
                c.peer.as_bytes(),
                self.node_id.as_bytes(),
            ],
        );
        same(&proof, &want)
    }

    /// Connecting side: checks the server's proof and returns this node's, or `None` when the
    /// server does not hold the key.
    pub fn answer(
        &self,
        nonce_a: &[u8],
        server: &[u8],
        nonce_b_hex: &[u8],
        proof_b_hex: &[u8],
    ) -> Option<Vec<u8>> {
        let nonce_b = unhex(nonce_b_hex).filter(|n| n.len() == NONCE_LEN)?;
        let proof_b = unhex(proof_b_hex)?;
        let want = mac(
            &self.key,
            &[
                b"hc-server",
                nonce_a,
                &nonce_b,
                self.node_id.as_bytes(),
                server,
            ],
        );
        if !same(&proof_b, &want) {
            return None;
        }
        Some(
            mac(
                &self.key,
                &[
                    b"hc-client",
                    nonce_a,
                    &nonce_b,
                    self.node_id.as_bytes(),
                    server,
                ],
            )
            .to_vec(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::hex::hex;

    fn handshake(a: &PeerAuth, b: &PeerAuth) -> (bool, bool) {
        let nonce_a = nonce();
        let (ch, proof_b) = b
            .challenge(a.node_id.as_bytes(), hex(&nonce_a).as_bytes())
            .expect("well-formed hello");
        let Some(proof_a) = a.answer(
            &nonce_a,
            b.node_id.as_bytes(),
            hex(&ch.nonce_b).as_bytes(),
            hex(&proof_b).as_bytes(),
        ) else {
            return (false, false);
        };
        (true, b.verify_client(&ch, hex(&proof_a).as_bytes()))
    }

    #[test]
    fn same_secret_authenticates_both_ways() {
        let a = PeerAuth::new("node-a", Some(b"s3cret"));
        let b = PeerAuth::new("node-b", Some(b"s3cret"));
        assert_eq!(handshake(&a, &b), (true, true));
    }

    #[test]
    fn a_wrong_secret_fails_on_both_sides() {
        let a = PeerAuth::new("node-a", Some(b"s3cret"));
        let b = PeerAuth::new("node-b", Some(b"other"));
        // The client refuses the server's proof before answering.
        assert!(!handshake(&a, &b).0);
        // And a client that answers anyway is refused by the server.
        let nonce_a = nonce();
        let (ch, _) = b.challenge(b"node-a", hex(&nonce_a).as_bytes()).unwrap();
        let forged = mac(
            &a.key,
            &[b"hc-client", &nonce_a, &ch.nonce_b, b"node-a", b"node-b"],
        );
        assert!(!b.verify_client(&ch, hex(&forged).as_bytes()));
        // With the right key it would have passed: the check is on the key, not the shape.
        let right = mac(
            &b.key,
            &[b"hc-client", &nonce_a, &ch.nonce_b, b"node-a", b"node-b"],
        );
        assert!(b.verify_client(&ch, hex(&right).as_bytes()));
    }

    #[test]
    fn a_recorded_proof_does_not_replay() {
        let a = PeerAuth::new("node-a", Some(b"k"));
        let b = PeerAuth::new("node-b", Some(b"k"));
        let nonce_a = nonce();
        let (ch1, proof_b) = b.challenge(b"node-a", hex(&nonce_a).as_bytes()).unwrap();
        let proof_a = a
            .answer(
                &nonce_a,
                b"node-b",
                hex(&ch1.nonce_b).as_bytes(),
                hex(&proof_b).as_bytes(),
            )
            .unwrap();
        assert!(b.verify_client(&ch1, hex(&proof_a).as_bytes()));
        // Same client nonce, new server nonce: the old proof is worthless.
        let (ch2, _) = b.challenge(b"node-a", hex(&nonce_a).as_bytes()).unwrap();
        assert!(!b.verify_client(&ch2, hex(&proof_a).as_bytes()));
        // The server's proof never passes as a client's.
        assert!(!b.verify_client(&ch1, hex(&proof_b).as_bytes()));
    }

    #[test]
    fn malformed_input_is_refused() {
        let b = PeerAuth::new("node-b", None);
        assert!(b.challenge(b"node-a", b"zz").is_none());
        assert!(b.challenge(b"node-a", b"00").is_none());
        assert!(b.challenge(b"", hex(&nonce()).as_bytes()).is_none());
        let (ch, _) = b.challenge(b"node-a", hex(&nonce()).as_bytes()).unwrap();
        assert!(!b.verify_client(&ch, b"not hex"));
        assert!(!b.verify_client(&ch, b""));
        assert_eq!(unhex(b"0aFf"), Some(vec![0x0a, 0xff]));
        assert_eq!(hex(&[0x0a, 0xff]), "0aff");
    }
}
