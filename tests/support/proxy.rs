//! A recording HTTP proxy on 127.0.0.1 in front of a real S3 server.
//!
//! It records every request (method, path, headers, body) and the status it answered, and
//! forwards the request unchanged, Host header included: SigV4 signs the Host header, so a proxy
//! that rewrote it to the upstream's address would break every signature. The upstream sees the
//! proxy's address in Host, which is what the client signed.
//!
//! It can also play a store that demands Content-MD5: PutBucketCors without it is answered
//! `400 InvalidRequest` as AWS does, without reaching the upstream.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt as _, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};

/// One request as the proxy received it, and the status it answered.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    /// Path and query, e.g. `/bucket?cors`.
    pub target: String,
    /// Header names in lower case, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub status: u16,
}

impl Recorded {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Names of the `x-amz-checksum-*` headers sent.
    pub fn checksum_headers(&self) -> Vec<&str> {
        self.headers
            .iter()
            .map(|(n, _)| n.as_str())
            .filter(|n| n.starts_with("x-amz-checksum-"))
            .collect()
    }

    /// True for a PutBucketCors request.
    pub fn is_put_cors(&self) -> bool {
        self.method == "PUT" && query_has(&self.target, "cors")
    }
}

fn query_has(target: &str, key: &str) -> bool {
    target.split_once('?').is_some_and(|(_, q)| {
        q.split('&')
            .any(|kv| kv == key || kv.starts_with(&format!("{key}=")))
    })
}

#[derive(Default)]
struct Shared {
    records: Mutex<Vec<Recorded>>,
    demand_md5: AtomicBool,
}

/// A running proxy; it stops when dropped.
pub struct RecordingProxy {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RecordingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RecordingProxy {
    /// Starts a proxy forwarding to `upstream` (`http://host:port`).
    pub async fn start(upstream: &str) -> RecordingProxy {
        let upstream: SocketAddr = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .expect("upstream must be http://IP:PORT");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let url = format!("http://{}", listener.local_addr().expect("proxy address"));
        let shared = Arc::new(Shared::default());
        let state = shared.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let state = state.clone();
                tokio::spawn(async move {
                    let service =
                        hyper::service::service_fn(move |req| handle(req, upstream, state.clone()));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        RecordingProxy { url, shared, task }
    }

    /// From now on, answer PutBucketCors without Content-MD5 with 400 InvalidRequest.
    pub fn demand_content_md5(&self, on: bool) {
        self.shared.demand_md5.store(on, Ordering::SeqCst);
    }

    /// Everything recorded so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.records.lock().expect("records lock").clone()
    }

    /// The PutBucketCors requests recorded so far.
    pub fn put_cors_requests(&self) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(Recorded::is_put_cors)
            .collect()
    }

    /// Forgets what was recorded.
    pub fn clear(&self) {
        self.shared.records.lock().expect("records lock").clear();
    }
}

const MISSING_MD5: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>InvalidRequest</Code>\
<Message>Missing required header for this request: Content-MD5</Message><RequestId>proxy</RequestId></Error>";

async fn handle(
    req: Request<Incoming>,
    upstream: SocketAddr,
    shared: Arc<Shared>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let mut record = Recorded {
        method: parts.method.to_string(),
        target: parts
            .uri
            .path_and_query()
            .map_or_else(|| "/".to_owned(), |p| p.to_string()),
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: body.to_vec(),
        status: 0,
    };

    let response = if shared.demand_md5.load(Ordering::SeqCst)
        && record.is_put_cors()
        && record.header("content-md5").is_none()
    {
        Response::builder()
            .status(400)
            .header("content-type", "application/xml")
            .body(Full::new(Bytes::from_static(MISSING_MD5.as_bytes())))
            .expect("static response")
    } else {
        forward(&parts, body, upstream).await.unwrap_or_else(|err| {
            Response::builder()
                .status(502)
                .body(Full::new(Bytes::from(format!("proxy: {err}"))))
                .expect("static response")
        })
    };
    record.status = response.status().as_u16();
    shared.records.lock().expect("records lock").push(record);
    Ok(response)
}

async fn forward(
    parts: &hyper::http::request::Parts,
    body: Bytes,
    upstream: SocketAddr,
) -> Result<Response<Full<Bytes>>, Box<dyn std::error::Error + Send + Sync>> {
    let stream = TcpStream::connect(upstream).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let mut builder = Request::builder()
        .method(parts.method.clone())
        .uri(parts.uri.path_and_query().map_or("/", |p| p.as_str()));
    // Every header as received, Host included (it is signed).
    for (name, value) in &parts.headers {
        builder = builder.header(name, value);
    }
    let answer = sender.send_request(builder.body(Full::new(body))?).await?;
    let (parts, body) = answer.into_parts();
    let body = body.collect().await?.to_bytes();
    let mut response = Response::builder().status(parts.status);
    for (name, value) in &parts.headers {
        // The body is re-sent whole; framing headers are hyper's business.
        if name != hyper::header::TRANSFER_ENCODING && name != hyper::header::CONNECTION {
            response = response.header(name, value);
        }
    }
    Ok(response.body(Full::new(body))?)
}
