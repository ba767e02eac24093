//! A minimal JSON-RPC 2.0 client over HTTP/1.1, written on `tokio::net::TcpStream` so the
//! binary does not pull jsonrpsee's client (and with it rustls/ring). One request per
//! connection (`Connection: close`); the answer is read by `Content-Length`, chunked, or to the
//! end of the stream.

use std::{fmt, io, str::FromStr, time::Duration};

use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    time::timeout,
};

use crate::error::{human_duration, io_reason};

/// The default `--rpc`: where `wisp node` serves JSON-RPC.
pub(crate) const DEFAULT_RPC_URL: &str = "http://127.0.0.1:8545";
/// The largest response accepted (a filter can hold many messages).
const MAX_RESPONSE: usize = 64 << 20;
/// The largest response head accepted.
const MAX_HEAD: usize = 64 << 10;

/// An `http://host:port/path` URL of a node's JSON-RPC endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RpcUrl {
    /// `host:port`, as dialled and sent in `Host`.
    authority: String,
    /// The request path, `/` if the URL has none.
    path: String,
}

impl RpcUrl {
    /// The URL of `addr`'s root.
    pub(crate) fn from_addr(addr: std::net::SocketAddr) -> Self {
        Self { authority: addr.to_string(), path: "/".into() }
    }
}

impl FromStr for RpcUrl {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let rest = if let Some(rest) = s.strip_prefix("http://") {
            rest
        } else if s.starts_with("https://") {
            return Err("https is not supported; use http:// (the node serves plain HTTP)".into());
        } else if s.contains("://") {
            return Err(format!("{s:?} is not an http:// URL"));
        } else {
            // `127.0.0.1:8545` alone is accepted too.
            s
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.is_empty() {
            return Err(format!("{s:?} has no host"));
        }
        if authority.contains('@') || authority.contains(char::is_whitespace) {
            return Err(format!("{s:?} is not a valid http:// URL"));
        }
        // The port: after the last ':' unless that is inside an IPv6 literal.
        let has_port = match authority.rfind(':') {
            Some(i) => !authority[i..].contains(']'),
            None => false,
        };
        let authority = if has_port {
            let (host, port) = authority.rsplit_once(':').expect("has a colon");
            if host.is_empty() {
                return Err(format!("{s:?} has no host"));
            }
            port.parse::<u16>().map_err(|_| format!("{port:?} in {s:?} is not a port number"))?;
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        Ok(Self { authority, path: path.to_owned() })
    }
}

impl fmt::Display for RpcUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}", self.authority)?;
        if self.path != "/" {
            f.write_str(&self.path)?;
        }
        Ok(())
    }
}

/// Why a JSON-RPC call failed; the text is what the user sees after `error: `.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RpcError {
    /// No TCP connection to the node.
    #[error("cannot reach the node's RPC at {url}: {reason}; is `wisp node` running?")]
    Unreachable {
        /// The endpoint.
        url: RpcUrl,
        /// Why, in a few words.
        reason: String,
    },
    /// The node did not answer in time.
    #[error("the node's RPC at {url} did not answer {method} within {}", human_duration(*limit))]
    Timeout {
        /// The endpoint.
        url: RpcUrl,
        /// The method called.
        method: String,
        /// How long we waited.
        limit: Duration,
    },
    /// The connection broke or the answer is not HTTP/JSON-RPC.
    #[error("bad answer from the node's RPC at {url} to {method}: {detail}")]
    Protocol {
        /// The endpoint.
        url: RpcUrl,
        /// The method called.
        method: String,
        /// What is wrong.
        detail: String,
    },
    /// The node answered with a JSON-RPC error.
    #[error("{method} failed: {message}")]
    Call {
        /// The method called.
        method: String,
        /// The error's `message`.
        message: String,
        /// The error's `code`.
        code: i64,
    },
}

/// A JSON-RPC client of one node.
#[derive(Debug, Clone)]
pub(crate) struct RpcClient {
    url: RpcUrl,
    timeout: Duration,
}

impl RpcClient {
    /// A client of `url` whose calls each give up after `timeout`.
    pub(crate) fn new(url: RpcUrl, timeout: Duration) -> Self {
        Self { url, timeout }
    }

    /// The endpoint.
    pub(crate) fn url(&self) -> &RpcUrl {
        &self.url
    }

    /// Calls `method` with `params` (a JSON array) and returns its `result`.
    pub(crate) async fn call(&self, method: &str, params: Value) -> Result<Value, RpcError> {
        self.call_within(method, params, self.timeout).await
    }

    /// As [`RpcClient::call`], with another time limit (for a call that does proof of work).
    pub(crate) async fn call_within(
        &self,
        method: &str,
        params: Value,
        limit: Duration,
    ) -> Result<Value, RpcError> {
        let request = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params });
        tracing::debug!(target: "wisp::rpc", url = %self.url, %method, "calling");
        let body = match timeout(limit, self.exchange(request.to_string().as_bytes())).await {
            Ok(Ok(body)) => body,
            Ok(Err(Failure::Connect(e))) => {
                return Err(RpcError::Unreachable { url: self.url.clone(), reason: io_reason(&e) });
            }
            Ok(Err(Failure::Protocol(detail))) => {
                return Err(RpcError::Protocol {
                    url: self.url.clone(),
                    method: method.into(),
                    detail,
                });
            }
            Err(_) => {
                return Err(RpcError::Timeout {
                    url: self.url.clone(),
                    method: method.into(),
                    limit,
                });
            }
        };
        parse_response(&body).map_err(|e| match e {
            Answer::Error { message, code } => {
                RpcError::Call { method: method.into(), message, code }
            }
            Answer::Malformed(detail) => {
                RpcError::Protocol { url: self.url.clone(), method: method.into(), detail }
            }
        })
    }

    /// Sends one POST and returns the body of a 200 answer (or of an error status whose body
    /// is JSON, as some servers send JSON-RPC errors that way).
    async fn exchange(&self, body: &[u8]) -> Result<Vec<u8>, Failure> {
        let mut tcp = TcpStream::connect(&self.url.authority).await.map_err(Failure::Connect)?;
        let _ = tcp.set_nodelay(true);
        let head = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
             Accept: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.url.path,
            self.url.authority,
            body.len()
        );
        let io_err =
            |e: io::Error| Failure::Protocol(format!("connection lost: {}", io_reason(&e)));
        tcp.write_all(head.as_bytes()).await.map_err(io_err)?;
        tcp.write_all(body).await.map_err(io_err)?;
        tcp.flush().await.map_err(io_err)?;

        let mut buf = Vec::with_capacity(4096);
        let head_end = loop {
            if let Some(i) = find(&buf, b"\r\n\r\n") {
                break i;
            }
            if buf.len() > MAX_HEAD {
                return Err(Failure::Protocol("response head too long".into()));
            }
            if read_more(&mut tcp, &mut buf).await.map_err(io_err)? == 0 {
                let detail = if buf.is_empty() {
                    "the server closed the connection without answering".into()
                } else {
                    "the response ended inside its head".into()
                };
                return Err(Failure::Protocol(detail));
            }
        };
        let head = ResponseHead::parse(&buf[..head_end]).map_err(Failure::Protocol)?;
        let mut rest = buf.split_off(head_end + 4);
        let body = if head.chunked {
            read_chunked(&mut tcp, &mut rest).await?
        } else if let Some(len) = head.content_length {
            if len > MAX_RESPONSE {
                return Err(Failure::Protocol(format!("response of {len} bytes is too big")));
            }
            while rest.len() < len {
                if read_more(&mut tcp, &mut rest).await.map_err(io_err)? == 0 {
                    return Err(Failure::Protocol("the response body was cut short".into()));
                }
            }
            rest.truncate(len);
            rest
        } else {
            while read_more(&mut tcp, &mut rest).await.map_err(io_err)? > 0 {
                if rest.len() > MAX_RESPONSE {
                    return Err(Failure::Protocol("response too big".into()));
                }
            }
            rest
        };
        if head.status != 200 && serde_json::from_slice::<Value>(&body).is_err() {
            let text = String::from_utf8_lossy(&body);
            let text = text.trim();
            let detail = if text.is_empty() {
                format!("HTTP {}", head.status_line)
            } else {
                format!("HTTP {}: {}", head.status_line, truncate(text, 200))
            };
            return Err(Failure::Protocol(detail));
        }
        Ok(body)
    }
}

/// Why an exchange failed.
#[derive(Debug)]
enum Failure {
    /// No TCP connection.
    Connect(io::Error),
    /// Anything after connecting.
    Protocol(String),
}

/// Why a response is not a result.
#[derive(Debug, PartialEq)]
enum Answer {
    /// A JSON-RPC error object.
    Error { message: String, code: i64 },
    /// Not a JSON-RPC response.
    Malformed(String),
}

/// The `result` of a JSON-RPC response, or its error.
fn parse_response(body: &[u8]) -> Result<Value, Answer> {
    let mut value: Value = serde_json::from_slice(body).map_err(|e| {
        Answer::Malformed(format!(
            "not JSON ({e}): {}",
            truncate(String::from_utf8_lossy(body).trim(), 200)
        ))
    })?;
    let Some(obj) = value.as_object_mut() else {
        return Err(Answer::Malformed("the response is not a JSON object".into()));
    };
    if let Some(error) = obj.get("error").filter(|e| !e.is_null()) {
        let message = match error.get("message").and_then(Value::as_str) {
            Some(m) => m.to_owned(),
            None => error.to_string(),
        };
        let code = error.get("code").and_then(Value::as_i64).unwrap_or(0);
        return Err(Answer::Error { message, code });
    }
    obj.remove("result")
        .ok_or_else(|| Answer::Malformed("the response has neither result nor error".into()))
}

/// The parts of a response head we use.
#[derive(Debug)]
struct ResponseHead {
    status: u16,
    status_line: String,
    content_length: Option<usize>,
    chunked: bool,
}

impl ResponseHead {
    fn parse(head: &[u8]) -> Result<Self, String> {
        let text = std::str::from_utf8(head).map_err(|_| "response head is not text".to_owned())?;
        let mut lines = text.split("\r\n");
        let first = lines.next().unwrap_or_default();
        let mut parts = first.splitn(2, ' ');
        let version = parts.next().unwrap_or_default();
        if !version.starts_with("HTTP/1.") {
            return Err(format!("not an HTTP/1.x response: {:?}", truncate(first, 80)));
        }
        let status_line = parts.next().unwrap_or_default().trim().to_owned();
        let status = status_line
            .split(' ')
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("bad status line {:?}", truncate(first, 80)))?;
        let mut content_length = None;
        let mut chunked = false;
        for line in lines {
            let Some((name, value)) = line.split_once(':') else { continue };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                content_length =
                    Some(value.parse().map_err(|_| format!("bad Content-Length {value:?}"))?);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.to_ascii_lowercase().contains("chunked");
            }
        }
        Ok(Self { status, status_line, content_length, chunked })
    }
}

/// Decodes a chunked body; `buf` holds what was read after the head.
async fn read_chunked(tcp: &mut TcpStream, buf: &mut Vec<u8>) -> Result<Vec<u8>, Failure> {
    let cut = || Failure::Protocol("the chunked response was cut short".into());
    let mut body = Vec::new();
    let mut pos = 0;
    loop {
        // The size line.
        let line_end = loop {
            if let Some(i) = find(&buf[pos..], b"\r\n") {
                break pos + i;
            }
            if read_more(tcp, buf).await.map_err(|_| cut())? == 0 {
                return Err(cut());
            }
        };
        let line = std::str::from_utf8(&buf[pos..line_end]).unwrap_or_default();
        let size_hex = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_hex, 16)
            .map_err(|_| Failure::Protocol(format!("bad chunk size {size_hex:?}")))?;
        pos = line_end + 2;
        if size == 0 {
            return Ok(body);
        }
        if body.len() + size > MAX_RESPONSE {
            return Err(Failure::Protocol("response too big".into()));
        }
        while buf.len() < pos + size + 2 {
            if read_more(tcp, buf).await.map_err(|_| cut())? == 0 {
                return Err(cut());
            }
        }
        body.extend_from_slice(&buf[pos..pos + size]);
        pos += size + 2;
    }
}

async fn read_more(tcp: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<usize> {
    let mut chunk = [0u8; 8192];
    let n = tcp.read(&mut chunk).await?;
    buf.extend_from_slice(&chunk[..n]);
    Ok(n)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use tokio::{io::AsyncBufReadExt, net::TcpListener};

    use super::*;

    #[test]
    fn parses_urls() {
        let url: RpcUrl = "http://127.0.0.1:8545".parse().unwrap();
        assert_eq!(url.authority, "127.0.0.1:8545");
        assert_eq!(url.path, "/");
        assert_eq!(url.to_string(), "http://127.0.0.1:8545");
        let url: RpcUrl = "http://localhost/rpc".parse().unwrap();
        assert_eq!(url.authority, "localhost:80");
        assert_eq!(url.path, "/rpc");
        let url: RpcUrl = "http://[::1]:9000/".parse().unwrap();
        assert_eq!(url.authority, "[::1]:9000");
        let url: RpcUrl = "127.0.0.1:1".parse().unwrap();
        assert_eq!(url.to_string(), "http://127.0.0.1:1");
        assert!("https://x:1".parse::<RpcUrl>().unwrap_err().contains("https"));
        assert!("ws://x:1".parse::<RpcUrl>().is_err());
        assert!("http://:1".parse::<RpcUrl>().is_err());
        assert!("http://x:99999".parse::<RpcUrl>().is_err());
        assert!("http://".parse::<RpcUrl>().is_err());
    }

    #[test]
    fn reads_results_and_errors() {
        assert_eq!(
            parse_response(br#"{"jsonrpc":"2.0","id":1,"result":"0x01"}"#),
            Ok(json!("0x01"))
        );
        assert_eq!(parse_response(br#"{"jsonrpc":"2.0","id":1,"result":null}"#), Ok(Value::Null));
        assert_eq!(
            parse_response(
                br#"{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"Method not found"}}"#
            ),
            Err(Answer::Error { message: "Method not found".into(), code: -32601 })
        );
        assert!(matches!(parse_response(b"oops"), Err(Answer::Malformed(_))));
        assert!(matches!(parse_response(b"{}"), Err(Answer::Malformed(_))));
    }

    /// Serves one request with `answer` (a whole HTTP response) and returns the URL.
    async fn one_shot(answer: String) -> RpcUrl {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut reader = tokio::io::BufReader::new(tcp);
            let mut length = 0;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).await.unwrap();
                if line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).await.unwrap();
            let request: Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(request["jsonrpc"], "2.0");
            assert_eq!(request["method"], "waku_info");
            let mut tcp = reader.into_inner();
            tcp.write_all(answer.as_bytes()).await.unwrap();
        });
        RpcUrl::from_addr(addr)
    }

    #[tokio::test]
    async fn speaks_http_with_content_length_and_chunked() {
        let client = |url| RpcClient::new(url, Duration::from_secs(5));
        /// A response with `status` and `body`, framed by Content-Length.
        fn sized(status: &str, body: &str) -> String {
            format!(
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            )
        }
        let url = one_shot(sized("200 OK", r#"{"jsonrpc":"2.0","id":1,"result":42}"#)).await;
        assert_eq!(client(url).call("waku_info", json!([])).await.unwrap(), json!(42));

        let (part1, part2) = (r#"{"jsonrpc":"2.0""#, r#","id":1,"result":"ok"}"#);
        let url = one_shot(format!(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
             {:x}\r\n{part1}\r\n{:x};ext=1\r\n{part2}\r\n0\r\n\r\n",
            part1.len(),
            part2.len()
        ))
        .await;
        assert_eq!(client(url).call("waku_info", json!([])).await.unwrap(), json!("ok"));

        let url = one_shot(sized("404 Not Found", "nope")).await;
        let err = client(url).call("waku_info", json!([])).await.unwrap_err().to_string();
        assert!(err.contains("404 Not Found: nope"), "{err}");

        let error = r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32000,"message":"no such key"}}"#;
        let url = one_shot(sized("200 OK", error)).await;
        let err = client(url).call("waku_info", json!([])).await.unwrap_err().to_string();
        assert_eq!(err, "waku_info failed: no such key");
    }

    #[tokio::test]
    async fn a_closed_port_says_cannot_reach() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let url: RpcUrl = format!("http://127.0.0.1:{port}").parse().unwrap();
        let err = RpcClient::new(url, Duration::from_secs(5))
            .call("waku_info", json!([]))
            .await
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            format!(
                "cannot reach the node's RPC at http://127.0.0.1:{port}: connection refused; \
                 is `wisp node` running?"
            )
        );
    }
}
