//! Import parameters: the IPIP-0499 CID profiles and Kubo-style overrides.
//!
//! A profile fixes every choice that changes a CID: CID version, leaf encoding, chunk size,
//! DAG layout and width, and when directories become HAMT shards. `unixfs-v1-2025` is the
//! default (what Helia produces); `unixfs-v0-2015` reproduces legacy Kubo CIDv0 output.
//! `--chunker size-N` and `--raw-leaves` override single parameters, as Kubo's flags do.

use super::{ContentError, HashAlg, Result, MAX_BLOCK_SIZE};

/// A named set of import parameters (IPIP-0499).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Profile {
    #[default]
    UnixfsV1_2025,
    UnixfsV0_2015,
}

impl std::str::FromStr for Profile {
    type Err = ContentError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "unixfs-v1-2025" => Ok(Profile::UnixfsV1_2025),
            "unixfs-v0-2015" => Ok(Profile::UnixfsV0_2015),
            other => Err(ContentError::InvalidOption(format!(
                "unknown profile {other:?} (use unixfs-v1-2025 or unixfs-v0-2015)"
            ))),
        }
    }
}

impl std::fmt::Display for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Profile::UnixfsV1_2025 => "unixfs-v1-2025",
            Profile::UnixfsV0_2015 => "unixfs-v0-2015",
        })
    }
}

/// What the user asked for: a profile plus optional overrides.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportOptions {
    pub profile: Profile,
    pub chunk_size: Option<usize>,
    pub raw_leaves: Option<bool>,
    pub hash: HashAlg,
    /// Kubo's `--cid-version`: 0 forces CIDv0 (sha2-256 only) and, unless `raw_leaves` says
    /// otherwise, dag-pb leaves; 1 forces CIDv1 and raw leaves. `None` keeps the profile's.
    pub cid_version: Option<u8>,
}

impl ImportOptions {
    /// The profile a Kubo-style add means when none is named: `--cid-version 0` is Kubo's
    /// own default output (`unixfs-v0-2015`), anything else Cairn's default.
    pub fn profile_for(profile: Option<&str>, cid_version: Option<u8>) -> Result<Profile> {
        match (profile, cid_version) {
            (Some(profile), _) => profile.parse(),
            (None, Some(0)) => Ok(Profile::UnixfsV0_2015),
            (None, _) => Ok(Profile::default()),
        }
    }
}

/// The concrete parameters an import runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    /// CIDv0 for dag-pb nodes (only possible with sha2-256).
    pub cid_v0: bool,
    pub raw_leaves: bool,
    pub chunk_size: usize,
    pub max_links: usize,
    /// A directory becomes a HAMT shard when its basic node would exceed this many bytes.
    pub hamt_threshold: usize,
    pub hamt_fanout: usize,
    pub hamt_estimate: ShardEstimate,
    pub hash: HashAlg,
}

/// How a directory's size is estimated against the HAMT threshold (IPIP-0499).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardEstimate {
    /// The serialized basic directory node.
    BlockBytes,
    /// The sum of link name and CID byte lengths (legacy Kubo).
    LinksBytes,
}

/// Kubo's `--chunker` values that Cairn supports: `size-<bytes>`.
pub fn parse_chunker(text: &str) -> Result<usize> {
    let size = text
        .strip_prefix("size-")
        .and_then(|n| n.parse::<usize>().ok())
        .ok_or_else(|| {
            ContentError::InvalidOption(format!("unsupported chunker {text:?} (use size-<bytes>)"))
        })?;
    if size == 0 || size > MAX_BLOCK_SIZE - 1024 {
        return Err(ContentError::InvalidOption(format!(
            "chunk size {size} must be between 1 and {} bytes",
            MAX_BLOCK_SIZE - 1024
        )));
    }
    Ok(size)
}

impl ImportOptions {
    pub fn params(&self) -> Result<Params> {
        let (cid_v0, raw_leaves, chunk_size, max_links, hamt_estimate) = match self.profile {
            Profile::UnixfsV1_2025 => (false, true, 1 << 20, 1024, ShardEstimate::BlockBytes),
            Profile::UnixfsV0_2015 => (true, false, 256 * 1024, 174, ShardEstimate::LinksBytes),
        };
        let chunk_size = match self.chunk_size {
            Some(size) => parse_chunker(&format!("size-{size}"))?,
            None => chunk_size,
        };
        let (cid_v0, raw_leaves) = match self.cid_version {
            // CIDv0 can only name sha2-256 dag-pb; another hash moves the import to CIDv1,
            // as Kubo does.
            None => (cid_v0 && self.hash == HashAlg::Sha2_256, raw_leaves),
            Some(0) if self.hash != HashAlg::Sha2_256 => {
                return Err(ContentError::InvalidOption(
                    "CIDv0 only supports sha2-256 (use --cid-version 1 with another hash)".into(),
                ))
            }
            Some(0) => (true, false),
            Some(1) => (false, true),
            Some(other) => {
                return Err(ContentError::InvalidOption(format!(
                    "unknown CID version {other} (use 0 or 1)"
                )))
            }
        };
        Ok(Params {
            cid_v0,
            raw_leaves: self.raw_leaves.unwrap_or(raw_leaves),
            chunk_size,
            max_links,
            hamt_threshold: 256 * 1024,
            hamt_fanout: 256,
            hamt_estimate,
            hash: self.hash,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_and_overrides_resolve_to_concrete_parameters() {
        let v1 = ImportOptions::default().params().unwrap();
        assert_eq!(
            (v1.cid_v0, v1.raw_leaves, v1.chunk_size, v1.max_links),
            (false, true, 1 << 20, 1024)
        );
        let v0 = ImportOptions {
            profile: Profile::UnixfsV0_2015,
            ..Default::default()
        }
        .params()
        .unwrap();
        assert_eq!(
            (v0.cid_v0, v0.raw_leaves, v0.chunk_size, v0.max_links),
            (true, false, 262_144, 174)
        );
        let custom = ImportOptions {
            chunk_size: Some(1024),
            raw_leaves: Some(false),
            ..Default::default()
        };
        let custom = custom.params().unwrap();
        assert_eq!((custom.chunk_size, custom.raw_leaves), (1024, false));
    }

    #[test]
    fn cid_version_overrides_as_kubo_s_flag_does() {
        let v1 = ImportOptions {
            profile: Profile::UnixfsV0_2015,
            cid_version: Some(1),
            ..Default::default()
        };
        let v1 = v1.params().unwrap();
        assert_eq!(
            (v1.cid_v0, v1.raw_leaves, v1.chunk_size),
            (false, true, 262_144)
        );
        let v0 = ImportOptions {
            cid_version: Some(0),
            raw_leaves: Some(true),
            ..Default::default()
        };
        let v0 = v0.params().unwrap();
        assert_eq!((v0.cid_v0, v0.raw_leaves), (true, true));
        for bad in [
            ImportOptions {
                cid_version: Some(2),
                ..Default::default()
            },
            ImportOptions {
                cid_version: Some(0),
                hash: HashAlg::Blake3,
                ..Default::default()
            },
        ] {
            assert!(matches!(bad.params(), Err(ContentError::InvalidOption(_))));
        }
        assert_eq!(
            ImportOptions::profile_for(None, Some(0)).unwrap(),
            Profile::UnixfsV0_2015
        );
        assert_eq!(
            ImportOptions::profile_for(None, Some(1)).unwrap(),
            Profile::UnixfsV1_2025
        );
        assert!(ImportOptions::profile_for(Some("nope"), None).is_err());
    }

    #[test]
    fn bad_profiles_and_chunkers_are_refused() {
        assert!("unixfs-v9".parse::<Profile>().is_err());
        for bad in ["rabin-1-2-3", "size-0", "size-x", "size-99999999", "1024"] {
            assert!(parse_chunker(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_chunker("size-262144").unwrap(), 262_144);
    }
}
