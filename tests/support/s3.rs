//! The real S3 servers started by `hack/s3/with-s3.sh`, and plain SDK clients for test setup.

use std::sync::atomic::{AtomicU32, Ordering};

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use bucketcors::api::ChecksumMode;
use bucketcors::s3::{AwsCorsStore, EndpointConfig, SecretString, StaticCredentials};

/// The S3 servers the tests run against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Server {
    /// moto server (PyPI `moto[server]`).
    Moto,
    /// versitygw, posix backend.
    Versitygw,
}

/// Where one server listens and how to sign for it.
#[derive(Clone, Debug)]
pub struct S3Server {
    pub server: Server,
    pub url: String,
    pub access_key: String,
    pub secret_key: String,
    pub region: String,
}

const HOW: &str = "run the tests under `bash hack/s3/with-s3.sh cargo test ...` (it starts moto and \
     versitygw and exports BUCKETCORS_MOTO_URL, BUCKETCORS_VERSITYGW_URL and their keys), or set \
     BUCKETCORS_SKIP_S3_TESTS=1 to skip the S3 tests";

fn env(name: &str) -> Result<String, String> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| name.to_owned())
}

/// Every server, from the environment. `None` (after printing "skipped") when the environment
/// says to skip S3 tests; panics with instructions when a variable is missing otherwise.
pub fn servers(test: &str) -> Option<Vec<S3Server>> {
    let read = || -> Result<Vec<S3Server>, String> {
        let region = env("BUCKETCORS_S3_REGION").unwrap_or_else(|_| "us-east-1".to_owned());
        Ok(vec![
            S3Server {
                server: Server::Moto,
                url: env("BUCKETCORS_MOTO_URL")?,
                access_key: env("BUCKETCORS_MOTO_ACCESS_KEY")
                    .unwrap_or_else(|_| "testing".to_owned()),
                secret_key: env("BUCKETCORS_MOTO_SECRET_KEY")
                    .unwrap_or_else(|_| "testing".to_owned()),
                region: region.clone(),
            },
            S3Server {
                server: Server::Versitygw,
                url: env("BUCKETCORS_VERSITYGW_URL")?,
                access_key: env("BUCKETCORS_VERSITYGW_ACCESS_KEY")?,
                secret_key: env("BUCKETCORS_VERSITYGW_SECRET_KEY")?,
                region,
            },
        ])
    };
    match read() {
        Ok(servers) => Some(servers),
        Err(_) if std::env::var("BUCKETCORS_SKIP_S3_TESTS").as_deref() == Ok("1") => {
            println!("{test}: skipped (BUCKETCORS_SKIP_S3_TESTS=1)");
            None
        }
        Err(missing) => panic!("{test}: {missing} is not set; {HOW}"),
    }
}

/// One server by name (see [`servers`]).
pub fn server(test: &str, which: Server) -> Option<S3Server> {
    servers(test).map(|all| {
        all.into_iter()
            .find(|s| s.server == which)
            .expect("every server is listed")
    })
}

/// The versitygw account without rights on the root account's buckets, if start.sh made one.
pub fn versitygw_user() -> Option<(String, String)> {
    Some((
        env("BUCKETCORS_VERSITYGW_USER_ACCESS_KEY").ok()?,
        env("BUCKETCORS_VERSITYGW_USER_SECRET_KEY").ok()?,
    ))
}

impl S3Server {
    /// An [`EndpointConfig`] for this server, optionally through another URL (a proxy).
    pub fn endpoint(&self, checksum: ChecksumMode) -> EndpointConfig {
        self.endpoint_with(&self.url, &self.access_key, &self.secret_key, checksum)
    }

    /// An [`EndpointConfig`] with the given URL and keys.
    pub fn endpoint_with(
        &self,
        url: &str,
        access_key: &str,
        secret_key: &str,
        checksum: ChecksumMode,
    ) -> EndpointConfig {
        EndpointConfig {
            url: Some(url.to_owned()),
            region: Some(self.region.clone()),
            force_path_style: true,
            checksum,
            credentials: bucketcors::s3::Credentials::Static(StaticCredentials {
                access_key_id: access_key.to_owned(),
                secret_access_key: SecretString::new(secret_key),
                session_token: None,
            }),
            ..Default::default()
        }
    }

    /// The store under test, talking to this server directly.
    pub async fn store(&self, checksum: ChecksumMode) -> AwsCorsStore {
        AwsCorsStore::connect(&self.endpoint(checksum))
            .await
            .expect("connect")
    }

    /// A plain SDK client (not the code under test) for setting up buckets.
    pub fn sdk(&self) -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(&self.url)
            .region(Region::new(self.region.clone()))
            .force_path_style(true)
            .credentials_provider(Credentials::new(
                &self.access_key,
                &self.secret_key,
                None,
                None,
                "tests",
            ))
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }

    /// Creates a bucket with a name no other test uses.
    pub async fn new_bucket(&self, tag: &str) -> String {
        let name = unique_bucket(tag);
        self.sdk()
            .create_bucket()
            .bucket(&name)
            .send()
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "{:?}: creating bucket {name}: {}",
                    self.server,
                    aws_sdk_s3::error::DisplayErrorContext(&e)
                )
            });
        name
    }
}

/// A bucket name unique to this process and call: `bc-<tag>-<pid>-<n>`.
pub fn unique_bucket(tag: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let tag: String = tag
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(20)
        .collect::<String>()
        .to_ascii_lowercase();
    format!(
        "bc-{tag}-{}-{}-{nanos:x}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}
