//! A minimal RESP client for talking to peers (read-repair, anti-entropy, forwarding): peers
//! serve their internal commands on their ordinary RESP port.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::auth::PeerAuth;

/// A decoded RESP2 reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Status(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Reply>>),
}

impl Reply {
    pub fn int(&self) -> Option<i64> {
        match self {
            Reply::Int(n) => Some(*n),
            _ => None,
        }
    }

    pub fn bytes(&self) -> Option<&[u8]> {
        match self {
            Reply::Bulk(Some(b)) => Some(b),
            _ => None,
        }
    }

    pub fn array(&self) -> Option<&[Reply]> {
        match self {
            Reply::Array(Some(a)) => Some(a),
            _ => None,
        }
    }
}

pub fn encode_command(out: &mut Vec<u8>, args: &[&[u8]]) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

type Reader = BufReader<Box<dyn AsyncRead + Send + Unpin>>;

/// One connection to a peer: plain TCP, or TLS when the cluster's traffic is encrypted
/// (`tls.cluster`).
pub struct PeerConn {
    r: Reader,
    w: PeerWriter,
}

/// The writing half: every send is flushed (TLS keeps what it encrypted until then).
pub struct PeerWriter {
    w: Box<dyn AsyncWrite + Send + Unpin>,
}

impl PeerWriter {
    pub async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.w.write_all(bytes).await?;
        self.w.flush().await
    }
}

/// The reading half of a split connection: reads the integer replies of a stream of commands.
pub struct PeerReplies {
    r: Reader,
}

impl PeerReplies {
    /// The next reply, which must be a simple line (`:n`, `+OK`, `-ERR ...`).
    pub async fn next_line(&mut self) -> std::io::Result<Reply> {
        let mut line = Vec::new();
        if self.r.read_until(b'\n', &mut line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "bad reply from peer");
        if line.len() < 3 || !line.ends_with(b"\r\n") {
            return Err(bad());
        }
        let body = String::from_utf8_lossy(&line[1..line.len() - 2]).into_owned();
        match line[0] {
            b':' => Ok(Reply::Int(body.parse().map_err(|_| bad())?)),
            b'+' => Ok(Reply::Status(body)),
            b'-' => Ok(Reply::Error(body)),
            _ => Err(bad()),
        }
    }
}

/// Largest reply accepted from a peer (a value plus framing).
const MAX_REPLY: usize = 1 << 30;
/// Longest header line of a reply (a status or error line included).
const MAX_LINE: usize = 1 << 20;
/// Deepest nesting of aggregates followed in a reply.
const MAX_DEPTH: usize = 64;

impl PeerConn {
    /// Connects to a peer's RESP port and proves, both ways, that each side holds the cluster
    /// secret (see [`super::auth`]); only then does the peer accept internal commands.
    pub async fn connect(
        addr: SocketAddr,
        timeout: Duration,
        auth: &PeerAuth,
    ) -> std::io::Result<PeerConn> {
        tokio::time::timeout(timeout, async {
            let s = TcpStream::connect(addr).await?;
            s.set_nodelay(true)?;
            let (r, w): (
                Box<dyn AsyncRead + Send + Unpin>,
                Box<dyn AsyncWrite + Send + Unpin>,
            ) = match auth.tls.get() {
                Some(tls) => {
                    let name = rustls_pki_types::ServerName::IpAddress(addr.ip().into());
                    let t = tls.connector()?.connect(name, s).await?;
                    let (r, w) = tokio::io::split(t);
                    (Box::new(r), Box::new(w))
                }
                None => {
                    let (r, w) = s.into_split();
                    (Box::new(r), Box::new(w))
                }
            };
            let mut c = PeerConn {
                r: BufReader::with_capacity(64 * 1024, r),
                w: PeerWriter { w },
            };
            c.handshake(auth).await?;
            Ok(c)
        })
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"))?
    }

    async fn handshake(&mut self, auth: &PeerAuth) -> std::io::Result<()> {
        let refused = |why: String| std::io::Error::new(std::io::ErrorKind::PermissionDenied, why);
        let nonce_a = super::auth::nonce();
        let hex_a = crate::util::hex::hex(&nonce_a);
        let r = self
            .call(&[b"HCHELLO", auth.node_id.as_bytes(), hex_a.as_bytes()])
            .await?;
        let fields: Vec<&[u8]> = match &r {
            Reply::Array(Some(a)) => a.iter().filter_map(|x| x.bytes()).collect(),
            Reply::Error(e) => return Err(refused(format!("the peer refused the handshake: {e}"))),
            _ => Vec::new(),
        };
        let [server, nonce_b, proof_b] = fields[..] else {
            return Err(refused("malformed handshake reply".into()));
        };
        let Some(proof_a) = auth.answer(&nonce_a, server, nonce_b, proof_b) else {
            return Err(refused(
                "the peer does not hold this cluster's secret (cluster.secret differs)".into(),
            ));
        };
        let hex = crate::util::hex::hex(&proof_a);
        match self.call(&[b"HCAUTH", hex.as_bytes()]).await? {
            Reply::Status(s) if s == "OK" => Ok(()),
            Reply::Error(e) => Err(refused(format!("the peer refused our proof: {e}"))),
            other => Err(refused(format!("unexpected handshake reply {other:?}"))),
        }
    }

    /// Splits into a writer (the raw write half) and a reader of replies.
    pub fn split(self) -> (PeerWriter, PeerReplies) {
        (self.w, PeerReplies { r: self.r })
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.w.send(bytes).await
    }

    pub async fn call(&mut self, args: &[&[u8]]) -> std::io::Result<Reply> {
        let mut buf = Vec::new();
        encode_command(&mut buf, args);
        self.w.send(&buf).await?;
        self.read_reply().await
    }

    /// Reads one reply; also returns its raw bytes when `raw` is given (for forwarding).
    pub async fn read_reply(&mut self) -> std::io::Result<Reply> {
        Box::pin(self.read_inner(None, 0)).await
    }

    pub async fn read_reply_raw(&mut self, raw: &mut Vec<u8>) -> std::io::Result<Reply> {
        Box::pin(self.read_inner(Some(raw), 0)).await
    }

    /// One reply, RESP2 or RESP3 (a forwarded command answers in its client's protocol).
    /// RESP3's scalars read as a status line, its null as a null bulk, its aggregates as
    /// arrays. Nesting deeper than `MAX_DEPTH` is refused, not followed.
    async fn read_inner(
        &mut self,
        mut raw: Option<&mut Vec<u8>>,
        depth: usize,
    ) -> std::io::Result<Reply> {
        let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "bad reply from peer");
        if depth > MAX_DEPTH {
            return Err(bad());
        }
        let mut line = Vec::new();
        let n = (&mut self.r)
            .take(MAX_LINE as u64)
            .read_until(b'\n', &mut line)
            .await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if let Some(raw) = raw.as_deref_mut() {
            // A whole relayed reply is bounded as one value is, however it is nested.
            if raw.len() + line.len() > MAX_REPLY {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "reply from peer too long",
                ));
            }
            raw.extend_from_slice(&line);
        }
        if line.len() < 3 || !line.ends_with(b"\r\n") {
            return Err(bad());
        }
        let body = std::str::from_utf8(&line[1..line.len() - 2]).map_err(|_| bad())?;
        match line[0] {
            b'+' | b'#' | b',' | b'(' => Ok(Reply::Status(body.to_string())),
            b'-' => Ok(Reply::Error(body.to_string())),
            b':' => Ok(Reply::Int(body.parse().map_err(|_| bad())?)),
            b'_' => Ok(Reply::Bulk(None)),
            kind @ (b'$' | b'!' | b'=') => {
                let len: i64 = body.parse().map_err(|_| bad())?;
                if len < 0 {
                    return Ok(Reply::Bulk(None));
                }
                let len = len as usize;
                if len > MAX_REPLY {
                    return Err(bad());
                }
                let mut data = vec![0u8; len + 2];
                self.r.read_exact(&mut data).await?;
                if let Some(raw) = raw.as_deref_mut() {
                    if raw.len() + data.len() > MAX_REPLY {
                        return Err(bad());
                    }
                    raw.extend_from_slice(&data);
                }
                data.truncate(len);
                if kind == b'!' {
                    return Ok(Reply::Error(String::from_utf8_lossy(&data).into_owned()));
                }
                Ok(Reply::Bulk(Some(data)))
            }
            kind @ (b'*' | b'~' | b'>' | b'%' | b'|') => {
                let len: i64 = body.parse().map_err(|_| bad())?;
                if len < 0 {
                    return Ok(Reply::Array(None));
                }
                // A map's entries are pairs; an attribute's precede the reply they describe.
                let items_len = if matches!(kind, b'%' | b'|') {
                    (len as usize).checked_mul(2).ok_or_else(bad)?
                } else {
                    len as usize
                };
                let mut items = Vec::with_capacity(items_len.min(1024));
                for _ in 0..items_len {
                    items.push(Box::pin(self.read_inner(raw.as_deref_mut(), depth + 1)).await?);
                }
                if kind == b'|' {
                    return Box::pin(self.read_inner(raw, depth + 1)).await;
                }
                Ok(Reply::Array(Some(items)))
            }
            _ => Err(bad()),
        }
    }
}

/// Authenticated connections kept for short calls (read-repair), so that a call costs one
/// round trip rather than a connection and a handshake.
#[derive(Default)]
pub struct Pool {
    idle: parking_lot::Mutex<std::collections::HashMap<SocketAddr, Vec<PeerConn>>>,
}

/// Idle connections kept per peer.
const POOL_PER_PEER: usize = 16;

impl Pool {
    /// Calls a command on a peer within `timeout`, on a kept connection when there is one (a
    /// kept one that fails is replaced by a fresh one, once).
    pub async fn call(
        &self,
        addr: SocketAddr,
        args: &[&[u8]],
        timeout: Duration,
        auth: &PeerAuth,
    ) -> std::io::Result<Reply> {
        let call = async {
            for attempt in 0..2 {
                let kept = self.idle.lock().get_mut(&addr).and_then(|v| v.pop());
                let fresh = kept.is_none();
                let mut c = match kept {
                    Some(c) => c,
                    None => PeerConn::connect(addr, timeout, auth).await?,
                };
                match c.call(args).await {
                    Ok(r) => {
                        let mut idle = self.idle.lock();
                        let v = idle.entry(addr).or_default();
                        if v.len() < POOL_PER_PEER {
                            v.push(c);
                        }
                        return Ok(r);
                    }
                    Err(e) if fresh || attempt == 1 => return Err(e),
                    // The peer closed a kept connection (it restarted, or timed it out).
                    Err(_) => continue,
                }
            }
            Err(std::io::ErrorKind::NotConnected.into())
        };
        // A call cut short drops its connection, so no half-read reply is ever reused.
        tokio::time::timeout(timeout, call)
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "peer call timed out"))?
    }

    /// Forgets the connections to a peer that left.
    pub fn forget(&self, addr: SocketAddr) {
        self.idle.lock().remove(&addr);
    }
}
