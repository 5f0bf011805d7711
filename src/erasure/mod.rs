//! Erasure-coded slots: a piece cut into `k` data and `m` parity slots (systematic
//! Reed-Solomon, `reed-solomon-simd`), any `k` of which restore it byte for byte; the
//! DAG-CBOR manifest that names every slot; and the availability simulation that compares
//! schemes ([`sim`]). Specified in `contracts/erasure.md`.
//!
//! Plain data and rules, no network and no database:
//! - [`Scheme`] (`k+m`) and [`Layout`] (the geometry of one piece's slots);
//! - [`codec`]: the stripe encoder and decoder, and the streaming `encode`, `decode` and
//!   `rebuild` over `std::io` readers and writers;
//! - [`slot`]: a slot as an ordinary content-addressed object (its UnixFS CID and its own
//!   piece commitment, computed by [`crate::proof::commit_dag`], the code every deal uses);
//! - [`manifest`]: the manifest, its checks, restore and repair verified against it.
//!
//! # Layout
//!
//! The piece (the DAG's canonical CAR, `contracts/proof.md` §1) is cut into **stripes** of
//! `k·S` bytes; stripe `j` is split into `k` data shards of `S` bytes and `m` parity shards are
//! computed from them. **Slot `i` is shard `i` of every stripe, concatenated**: slots `0..k`
//! are the piece itself (systematic), slots `k..k+m` parity. The last stripe is zero-padded.
//!
//! The shard size `S` is a function of `(k, piece_size)` alone ([`Layout::for_piece`]):
//! `t = max(1, ceil(piece_size / (k · 256 KiB)))` stripes, then
//! `S = max(64, ceil64(ceil(piece_size / (k · t))))`. Why:
//! - **bounded memory**: a stripe is at most `(k+m) · 256 KiB` (8 MiB for 10+20 plus the
//!   codec's work space), whatever the piece size, so a 1 GiB piece encodes and decodes in a
//!   few MiB;
//! - **little padding**: under `64·k` bytes per stripe, so under 0.05 % of the piece once
//!   there are two stripes or more (then `S > 128 KiB`), never a whole extra stripe;
//! - **throughput**: 256 KiB shards keep the codec's per-call overhead negligible
//!   (`benches/erasure.rs` measures encoding and decoding against raw `reed-solomon-simd` on
//!   the same stripes; figures in `docs/benchmarks.md`);
//! - **64-byte multiples**: the codec works in 64-byte blocks of 32 GF(2^16) elements, and
//!   only for multiples of 64 does `reed-solomon-simd` promise the same parity bytes across
//!   its versions (it accepts any even size), so slots stay rebuildable by later versions;
//! - **determinism**: `S` derives from what the manifest records, so a decoder checks it and a
//!   rebuilt slot is byte-identical to the lost one.
//!
//! # Invariants
//! - Every slot of a layout has the same length, `stripes · S` ([`Layout::slot_size`]).
//! - Encoding is a pure function of the piece bytes and the scheme; rebuilding slot `i` from
//!   any `k` slots yields the bytes encoding produced.
//! - Nothing leaves this module unverified: restore checks the piece's BLAKE3 root, repair
//!   checks each rebuilt slot's CID, size and piece commitment against the manifest.

pub mod codec;
pub mod manifest;
pub mod sim;
pub mod slot;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod vectors;

pub use codec::{decode, encode, rebuild, Encoder, Stripe, StripeCodec};
pub use manifest::{
    encode_into, encode_piece, Availability, Manifest, SlotEntry, Sources, MANIFEST_VERSION,
    MAX_MANIFEST_SIZE,
};
pub use slot::{commit_slot, ReadAt, SlotHasher, SlotObject, SLOT_PROFILE};

use cid::Cid;

/// Largest shard: 256 KiB (see the module docs for why).
pub const MAX_SHARD_SIZE: u32 = 256 * 1024;

/// Shard sizes are multiples of this.
pub const SHARD_ALIGN: u32 = 64;

/// Most slots (`k + m`) a scheme may have: far more providers than any keep will find, and a
/// bound on the manifest's size.
pub const MAX_SLOTS: u32 = 256;

/// Why erasure coding, a manifest or a slot was refused. [`ErasureError::reason`] is the
/// stable machine-readable name the vectors and the API use.
#[derive(Debug, thiserror::Error)]
pub enum ErasureError {
    /// `k`, `m` or `k + m` out of range, or text that is not `k+m`.
    #[error("invalid erasure scheme {scheme:?}: {reason}")]
    InvalidScheme { scheme: String, reason: String },
    /// A shard size or piece size that breaks the layout rule.
    #[error("invalid layout: {0}")]
    InvalidLayout(String),
    /// Not a canonical DAG-CBOR manifest of the expected shape.
    #[error("malformed manifest: {0}")]
    Malformed(String),
    /// A manifest over [`manifest::MAX_MANIFEST_SIZE`].
    #[error("manifest is {size} bytes, over the limit of {max}")]
    TooLarge { size: u64, max: u64 },
    /// Manifest bytes that do not hash to the CID they were fetched by.
    #[error("manifest bytes do not match its CID {expected} (they hash to {actual})")]
    WrongCid { expected: Cid, actual: Cid },
    /// A slot list that does not match the layout: wrong count, order, sizes or CIDs.
    #[error("manifest slot list does not match its layout: {0}")]
    BadSlotList(String),
    /// A slot whose bytes do not match what the manifest says about it.
    #[error("slot {index} does not match the manifest: {detail}")]
    SlotMismatch { index: u32, detail: String },
    /// A slot shorter or longer than the layout's slot size.
    #[error("slot {index} is {size} bytes, the layout says {expected}")]
    SlotSize {
        index: u32,
        size: u64,
        expected: u64,
    },
    /// A piece source shorter or longer than the piece size.
    #[error("piece is {size} bytes, the layout says {expected}")]
    PieceSize { size: u64, expected: u64 },
    /// Restored bytes that do not hash to the manifest's piece root.
    #[error("restored piece does not match its root: expected {expected}, got {actual}")]
    PieceMismatch { expected: String, actual: String },
    /// The same slot index given twice, or an index outside the layout.
    #[error("slot index {index} given twice or out of range (slots: {n})")]
    BadIndex { index: u32, n: u32 },
    /// Fewer than `k` distinct slots: the data cannot be rebuilt from slots.
    #[error(
        "unrecoverable from slots: {have} of the {need} needed are available; missing {missing:?}"
    )]
    Unrecoverable {
        have: u32,
        need: u32,
        missing: Vec<u32>,
    },
    /// Reading a source or writing a sink failed.
    #[error("i/o: {0}")]
    Io(String),
    /// Building a slot's DAG or piece failed.
    #[error("slot object: {0}")]
    Slot(String),
    /// The Reed-Solomon codec refused its input (a bug here, not the caller's fault).
    #[error("codec: {0}")]
    Codec(String),
}

impl ErasureError {
    /// Stable machine-readable name of the error (`contracts/erasure.md` §6).
    pub fn reason(&self) -> &'static str {
        match self {
            ErasureError::InvalidScheme { .. } => "invalid_scheme",
            ErasureError::InvalidLayout(_) => "invalid_layout",
            ErasureError::Malformed(_) => "malformed",
            ErasureError::TooLarge { .. } => "too_large",
            ErasureError::WrongCid { .. } => "wrong_cid",
            ErasureError::BadSlotList(_) => "bad_slot_list",
            ErasureError::SlotMismatch { .. } => "slot_mismatch",
            ErasureError::SlotSize { .. } => "slot_size",
            ErasureError::PieceSize { .. } => "piece_size",
            ErasureError::PieceMismatch { .. } => "piece_mismatch",
            ErasureError::BadIndex { .. } => "bad_index",
            ErasureError::Unrecoverable { .. } => "unrecoverable",
            ErasureError::Io(_) => "io",
            ErasureError::Slot(_) => "slot",
            ErasureError::Codec(_) => "codec",
        }
    }

    pub(crate) fn io(e: std::io::Error) -> Self {
        ErasureError::Io(e.to_string())
    }
}

pub type Result<T, E = ErasureError> = std::result::Result<T, E>;

/// `k` data slots and `m` parity slots: any `k` of the `k + m` restore the piece. Written
/// `k+m` (`4+4`, `10+20`) on the command line and in Pinning Service API `meta.erasure`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Scheme {
    pub k: u32,
    pub m: u32,
}

impl Scheme {
    /// Checks `1 <= k`, `1 <= m`, `k + m <= MAX_SLOTS`.
    pub fn new(k: u32, m: u32) -> Result<Self> {
        let bad = |reason: &str| ErasureError::InvalidScheme {
            scheme: format!("{k}+{m}"),
            reason: reason.into(),
        };
        if k == 0 {
            return Err(bad("k must be at least 1"));
        }
        if m == 0 {
            return Err(bad(
                "m must be at least 1 (with no parity, keep replicas instead)",
            ));
        }
        if k.checked_add(m).is_none_or(|n| n > MAX_SLOTS) {
            return Err(bad(&format!("k + m must be at most {MAX_SLOTS}")));
        }
        Ok(Scheme { k, m })
    }

    /// Number of slots, `k + m`.
    pub fn n(&self) -> u32 {
        self.k + self.m
    }

    /// Stored bytes per piece byte, `(k + m) / k` (ignoring padding).
    pub fn overhead(&self) -> f64 {
        f64::from(self.n()) / f64::from(self.k)
    }
}

impl std::str::FromStr for Scheme {
    type Err = ErasureError;
    fn from_str(text: &str) -> Result<Self> {
        let bad = || ErasureError::InvalidScheme {
            scheme: text.to_string(),
            reason: "expected k+m, e.g. 4+4".into(),
        };
        let (k, m) = text.trim().split_once('+').ok_or_else(bad)?;
        let parse = |s: &str| -> Result<u32> {
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            s.parse().map_err(|_| bad())
        };
        Scheme::new(parse(k)?, parse(m)?)
    }
}

impl std::fmt::Display for Scheme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}+{}", self.k, self.m)
    }
}

/// The geometry of one piece's slots: scheme, shard size `S` and piece size. Built with
/// [`Layout::for_piece`] (the rule) or [`Layout::new`] (checks given values follow it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Layout {
    pub k: u32,
    pub m: u32,
    /// Bytes per shard, `S`: a multiple of 64 in `64..=MAX_SHARD_SIZE`.
    pub shard_size: u32,
    /// Bytes of the piece, `> 0`.
    pub piece_size: u64,
}

impl Layout {
    /// The layout rule (module docs): the shard size for `scheme` and `piece_size`.
    pub fn for_piece(scheme: Scheme, piece_size: u64) -> Result<Self> {
        if piece_size == 0 {
            return Err(ErasureError::InvalidLayout("the piece is empty".into()));
        }
        let k = u64::from(scheme.k);
        let stripes = piece_size.div_ceil(k * u64::from(MAX_SHARD_SIZE)).max(1);
        let per_shard = piece_size.div_ceil(k * stripes);
        let align = u64::from(SHARD_ALIGN);
        // per_shard <= MAX_SHARD_SIZE by the choice of `stripes`, and MAX is a multiple of 64.
        let shard_size = (per_shard.div_ceil(align) * align).max(align);
        let shard_size = u32::try_from(shard_size)
            .map_err(|_| ErasureError::InvalidLayout("shard size overflows".into()))?;
        Ok(Layout {
            k: scheme.k,
            m: scheme.m,
            shard_size,
            piece_size,
        })
    }

    /// A layout from recorded values, refused unless it is exactly what
    /// [`Layout::for_piece`] gives (so every decoder agrees on the slot bytes).
    pub fn new(k: u32, m: u32, shard_size: u32, piece_size: u64) -> Result<Self> {
        let expected = Layout::for_piece(Scheme::new(k, m)?, piece_size)?;
        if expected.shard_size != shard_size {
            return Err(ErasureError::InvalidLayout(format!(
                "shard size {shard_size} for a {piece_size}-byte piece in {k}+{m}; the rule gives {}",
                expected.shard_size
            )));
        }
        Ok(expected)
    }

    pub fn scheme(&self) -> Scheme {
        Scheme {
            k: self.k,
            m: self.m,
        }
    }

    /// Number of slots, `k + m`.
    pub fn n(&self) -> u32 {
        self.k + self.m
    }

    /// Piece bytes per stripe, `k · S`.
    pub fn stripe_data(&self) -> u64 {
        u64::from(self.k) * u64::from(self.shard_size)
    }

    /// Number of stripes, `ceil(piece_size / (k · S))`.
    pub fn stripes(&self) -> u64 {
        self.piece_size.div_ceil(self.stripe_data())
    }

    /// Bytes of every slot, `stripes · S`.
    pub fn slot_size(&self) -> u64 {
        self.stripes() * u64::from(self.shard_size)
    }

    /// Zero bytes appended to the piece to fill the last stripe.
    pub fn padding(&self) -> u64 {
        self.stripes() * self.stripe_data() - self.piece_size
    }

    /// Piece bytes in stripe `j` (`k · S` except possibly the last).
    pub fn stripe_len(&self, j: u64) -> u64 {
        let start = j * self.stripe_data();
        self.piece_size
            .saturating_sub(start)
            .min(self.stripe_data())
    }

    /// Which slot indices are missing from `present`, in order.
    pub fn missing(&self, present: &[u32]) -> Vec<u32> {
        (0..self.n()).filter(|i| !present.contains(i)).collect()
    }
}
