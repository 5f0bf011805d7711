//! The block store over S3-compatible object storage (AWS S3, MinIO, Ceph radosgw, ...), for a
//! provider whose blocks outgrow one disk.
//!
//! Layout: one object per block, keyed `<prefix>/<key>` where `key` is the block's CIDv1 in
//! base32 (as the fs store names its files) and `prefix` the configured key prefix (none by
//! default), so several nodes can share a bucket under prefixes of their own. A key is built
//! only from a CID's bytes, and a listed object is taken for a block only if its name is
//! exactly the key of the CID it parses to.
//!
//! Guarantees, the same as the fs store's:
//! - **Atomic writes.** A PUT is atomic in S3: an object is visible whole or not at all, and
//!   once the PUT is acknowledged it is durable, so [`Blockstore::sync`] has nothing left to
//!   do. Callers record a block in the database only after `put` (and `sync`) returned, so a
//!   PUT that failed, or a server that went away mid-add, leaves no row behind; an object
//!   whose PUT landed but whose row did not is adopted by the start-up reconcile.
//! - **Verified reads.** Every `get` hashes the object's bytes against the CID; a mismatch is
//!   [`BlockstoreError::Corrupt`], and the next `put` of the block overwrites the object.
//! - **No accounting here.** The used bytes and the quota live in [`super::Quota`], counted
//!   from the database; the bucket's own size is never asked.
//! - **Bounded listing.** `list` pages through the bucket (1000 keys a page, S3's own page).
//!
//! Failures of the object storage itself (unreachable, refused credentials, a missing bucket,
//! a server error after the client's retries) are [`BlockstoreError::ObjectStore`], naming
//! the endpoint and the key. Retries are few and short (see [`RETRIES`]) so that an outage
//! surfaces as an error in seconds instead of holding an add for minutes. [`S3Blockstore::probe`]
//! checks at start that the bucket answers, so a node refuses to start on storage it cannot
//! reach.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cid::Cid;
use futures::stream::BoxStream;
use futures::StreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{
    ClientOptions, GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig,
};

use super::{canonical, check_stored, BlockStatus, Blockstore, BlockstoreError, Result};
use crate::content::Block;

/// Retries of one request before its failure is reported: enough to ride out a dropped
/// connection, few enough that a server that is gone is reported within seconds.
pub const RETRIES: usize = 3;
/// The longest a request and its retries may take together.
const RETRY_TIMEOUT: Duration = Duration::from_secs(15);
/// How long connecting to the endpoint may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one request may take (a block is at most 2 MiB).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Where the blocks are: what `[storage.s3]` in config.toml says, plus credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Config {
    pub bucket: String,
    /// `http(s)://host:port` of an S3-compatible server; AWS's endpoint for `region` if unset.
    pub endpoint: Option<String>,
    pub region: String,
    /// Key prefix of every block object (no leading or trailing `/`); empty for none.
    pub prefix: String,
    /// Path-style requests (`endpoint/bucket/key`), as MinIO and most self-hosted servers
    /// want, rather than virtual-hosted style (`bucket.endpoint/key`).
    pub path_style: bool,
    /// Access key id and secret; read from the environment at open if `None` (what a node's
    /// config gives: credentials never sit in config.toml).
    pub credentials: Option<S3Credentials>,
}

/// A static access key.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    /// A temporary credential's session token.
    pub session_token: Option<String>,
}

impl S3Credentials {
    /// `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` (both required), and
    /// `AWS_SESSION_TOKEN` if set. Nothing else is consulted: no profile files, and no
    /// instance metadata service, which a node would otherwise query over the network.
    pub fn from_env() -> Result<Self> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        match (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
            (Some(access_key_id), Some(secret_access_key)) => Ok(S3Credentials {
                access_key_id,
                secret_access_key,
                session_token: var("AWS_SESSION_TOKEN"),
            }),
            _ => Err(BlockstoreError::NoCredentials),
        }
    }
}

impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret never reaches a log line.
        f.debug_struct("S3Config")
            .field("bucket", &self.bucket)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("prefix", &self.prefix)
            .field("path_style", &self.path_style)
            .field(
                "credentials",
                &self.credentials.as_ref().map(|c| &c.access_key_id),
            )
            .finish()
    }
}

impl S3Config {
    /// Where errors say the blocks are: `endpoint/bucket/prefix`.
    pub fn location(&self) -> String {
        let endpoint = self
            .endpoint
            .clone()
            .unwrap_or_else(|| format!("s3 ({})", self.region));
        let mut location = format!("{}/{}", endpoint.trim_end_matches('/'), self.bucket);
        if !self.prefix.is_empty() {
            location.push('/');
            location.push_str(&self.prefix);
        }
        location
    }
}

/// Cheap to clone: the client is shared.
#[derive(Debug, Clone)]
pub struct S3Blockstore {
    client: Arc<dyn ObjectStore>,
    prefix: Option<ObjectPath>,
    /// `endpoint/bucket/prefix`, for errors.
    location: Arc<str>,
}

impl S3Blockstore {
    /// Builds the client. No request is made: see [`S3Blockstore::probe`].
    pub fn open(config: &S3Config) -> Result<Self> {
        let credentials = match &config.credentials {
            Some(credentials) => credentials.clone(),
            None => S3Credentials::from_env()?,
        };
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&config.bucket)
            .with_region(&config.region)
            .with_virtual_hosted_style_request(!config.path_style)
            .with_access_key_id(&credentials.access_key_id)
            .with_secret_access_key(&credentials.secret_access_key)
            .with_retry(RetryConfig {
                max_retries: RETRIES,
                retry_timeout: RETRY_TIMEOUT,
                ..RetryConfig::default()
            })
            .with_client_options(
                ClientOptions::new()
                    .with_connect_timeout(CONNECT_TIMEOUT)
                    .with_timeout(REQUEST_TIMEOUT),
            );
        if let Some(token) = &credentials.session_token {
            builder = builder.with_token(token);
        }
        if let Some(endpoint) = &config.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"));
        }
        let location: Arc<str> = config.location().into();
        let client = builder
            .build()
            .map_err(|source| BlockstoreError::ObjectStore {
                location: location.to_string(),
                key: String::new(),
                source,
            })?;
        let prefix = config.prefix.trim_matches('/');
        Ok(S3Blockstore {
            client: Arc::new(client),
            prefix: (!prefix.is_empty()).then(|| ObjectPath::from(prefix)),
            location,
        })
    }

    /// Asks the bucket for one page of keys under the prefix: an error if the endpoint is
    /// unreachable, refuses the credentials, or has no such bucket. A node runs it at start,
    /// before it serves.
    pub async fn probe(&self) -> Result<()> {
        self.client
            .list_with_delimiter(self.prefix.as_ref())
            .await
            .map(|_| ())
            .map_err(|e| self.error(self.prefix.as_ref(), e))
    }

    /// The object key of `cid` (whether or not it exists): for tools and tests that look at
    /// the objects themselves.
    pub fn key_of(&self, cid: &Cid) -> ObjectPath {
        let name = canonical(cid).to_string();
        match &self.prefix {
            Some(prefix) => prefix.clone().join(name),
            None => ObjectPath::from(name),
        }
    }

    /// The client the store talks to the bucket with: for tools and tests that read or write
    /// objects behind the store's back.
    pub fn client(&self) -> &Arc<dyn ObjectStore> {
        &self.client
    }

    fn error(&self, key: Option<&ObjectPath>, source: object_store::Error) -> BlockstoreError {
        BlockstoreError::ObjectStore {
            location: self.location.to_string(),
            key: key.map(ToString::to_string).unwrap_or_default(),
            source,
        }
    }

    /// The object's stored length and bytes, or `None` if there is no object. The bytes of an
    /// object longer than any block are not read (they are empty): callers see the size.
    async fn fetch(&self, key: &ObjectPath) -> Result<Option<(u64, Bytes)>> {
        let result = match self.client.get(key).await {
            Ok(result) => result,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(self.error(Some(key), e)),
        };
        let size = result.meta.size;
        if size > crate::content::MAX_BLOCK_SIZE as u64 {
            // Too long to be any block: no need to read it to know.
            return Ok(Some((size, Bytes::new())));
        }
        match result.bytes().await {
            Ok(data) => Ok(Some((size, data))),
            // Deleted between the answer's head and its body.
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.error(Some(key), e)),
        }
    }

    /// The stored length of `key`, or `None` if there is no such object.
    async fn size_of(&self, key: &ObjectPath) -> Result<Option<u64>> {
        match self.client.head(key).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.error(Some(key), e)),
        }
    }

    /// The CID an object names, if its key is exactly the key of a CID under the prefix.
    fn parse_key(&self, key: &ObjectPath) -> Option<Cid> {
        let name = key.filename()?;
        let cid = Cid::try_from(name).ok()?;
        (self.key_of(&cid) == *key).then_some(cid)
    }
}

/// Whether the bytes stored under a key are exactly `cid`'s block.
fn status_of(cid: &Cid, stored: Option<(u64, Bytes)>) -> Result<BlockStatus> {
    match stored {
        None => Ok(BlockStatus::Missing),
        Some((size, _)) if size > crate::content::MAX_BLOCK_SIZE as u64 => Ok(BlockStatus::Corrupt),
        Some((_, data)) => check_stored(cid, data),
    }
}

impl Blockstore for S3Blockstore {
    async fn get(&self, cid: &Cid) -> Result<Option<Bytes>> {
        let key = self.key_of(cid);
        let Some((size, data)) = self.fetch(&key).await? else {
            return Ok(None);
        };
        if size > crate::content::MAX_BLOCK_SIZE as u64 {
            return Err(BlockstoreError::Corrupt(*cid));
        }
        match Block::verified(*cid, data) {
            Ok(block) => Ok(Some(block.into_parts().1)),
            Err(_) => Err(BlockstoreError::Corrupt(*cid)),
        }
    }

    async fn read_range(&self, cid: &Cid, offset: u64, len: usize) -> Result<Option<Bytes>> {
        let key = self.key_of(cid);
        if len == 0 {
            // S3 refuses an empty range; only whether the block is there is asked.
            return Ok(self.size_of(&key).await?.map(|_| Bytes::new()));
        }
        let range = GetRange::Bounded(offset..offset.saturating_add(len as u64));
        let options = GetOptions::new().with_range(Some(range));
        let result = match self.client.get_opts(&key, options).await {
            Ok(result) => result,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => {
                // A range that starts at or past the end is refused (416); the block may be
                // there all the same, and then the answer is no bytes.
                return match self.size_of(&key).await? {
                    Some(size) if offset >= size => Ok(Some(Bytes::new())),
                    Some(_) => Err(self.error(Some(&key), e)),
                    None => Ok(None),
                };
            }
        };
        match result.bytes().await {
            Ok(data) => Ok(Some(data)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.error(Some(&key), e)),
        }
    }

    async fn has(&self, cid: &Cid) -> Result<bool> {
        Ok(self.size_of(&self.key_of(cid)).await?.is_some())
    }

    async fn put(&self, block: &Block) -> Result<bool> {
        let key = self.key_of(block.cid());
        let existing = self.fetch(&key).await?;
        if let Some((_, data)) = &existing {
            // `block` hashes to its CID (a `Block` is built only through that check), so an
            // object equal to it is the verified block.
            if data == block.data() {
                return Ok(false);
            }
            tracing::warn!(cid = %block.cid(), "stored block is torn or corrupt; rewriting it");
        }
        // One PUT: the object appears whole, or (on any error) the old state stays.
        let payload = PutPayload::from_bytes(block.data().clone());
        self.client
            .put(&key, payload)
            .await
            .map_err(|e| self.error(Some(&key), e))?;
        Ok(existing.is_none())
    }

    async fn delete(&self, cid: &Cid) -> Result<Option<u64>> {
        let key = self.key_of(cid);
        let Some(size) = self.size_of(&key).await? else {
            return Ok(None);
        };
        match self.client.delete(&key).await {
            Ok(()) => Ok(Some(size)),
            // Removed by someone else since the head.
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.error(Some(&key), e)),
        }
    }

    async fn sync(&self) -> Result<()> {
        // An acknowledged PUT is durable already.
        Ok(())
    }

    async fn verify(&self, cid: &Cid) -> Result<BlockStatus> {
        crate::content::check_supported(cid)?;
        let stored = self.fetch(&self.key_of(cid)).await?;
        status_of(cid, stored)
    }

    fn list(&self) -> BoxStream<'static, Result<Cid>> {
        let this = self.clone();
        // Every key under the prefix, nested ones too, a page (1000 keys) at a time as the
        // reader consumes them; only keys that are exactly a CID's key are blocks.
        self.client
            .list(self.prefix.as_ref())
            .filter_map(move |item| {
                let this = this.clone();
                async move {
                    match item {
                        Ok(meta) => match this.parse_key(&meta.location) {
                            Some(cid) => Some(Ok(cid)),
                            None => {
                                tracing::warn!(key = %meta.location, "not a block object; skipped");
                                None
                            }
                        },
                        Err(e) => Some(Err(this.error(this.prefix.as_ref(), e))),
                    }
                }
            })
            .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(prefix: &str) -> S3Config {
        S3Config {
            bucket: "blocks".into(),
            endpoint: Some("http://127.0.0.1:9".into()),
            region: "us-east-1".into(),
            prefix: prefix.into(),
            path_style: true,
            credentials: Some(S3Credentials {
                access_key_id: "id".into(),
                secret_access_key: "very secret".into(),
                session_token: None,
            }),
        }
    }

    #[test]
    fn keys_are_the_canonical_cid_under_the_prefix_and_nothing_else_parses() {
        let store = S3Blockstore::open(&config("/node-a/")).unwrap();
        let block = Block::encode(
            crate::content::RAW,
            crate::content::HashAlg::Sha2_256,
            &b"x"[..],
        );
        let key = store.key_of(block.cid());
        assert_eq!(key.to_string(), format!("node-a/{}", block.cid()));
        assert_eq!(store.parse_key(&key), Some(*block.cid()));
        // Another prefix, a nested key, a CID in another text form, or no CID at all.
        for stray in [
            format!("node-b/{}", block.cid()),
            format!("node-a/x/{}", block.cid()),
            format!(
                "node-a/{}",
                block
                    .cid()
                    .to_string_of_base(cid::multibase::Base::Base58Btc)
                    .unwrap()
            ),
            "node-a/README".to_string(),
        ] {
            assert_eq!(store.parse_key(&ObjectPath::from(stray.as_str())), None);
        }
        let bare = S3Blockstore::open(&config("")).unwrap();
        assert_eq!(
            bare.key_of(block.cid()).to_string(),
            block.cid().to_string()
        );
    }

    #[test]
    fn the_secret_stays_out_of_debug_output() {
        let text = format!("{:?}", config(""));
        assert!(text.contains("\"id\""), "{text}");
        assert!(!text.contains("very secret"), "{text}");
        assert_eq!(config("p").location(), "http://127.0.0.1:9/blocks/p");
    }
}
