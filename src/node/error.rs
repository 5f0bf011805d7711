//! The node's error: every module's typed error, carried up unchanged, plus the few conditions
//! that belong to the node itself (offline, a peer's refusal, a request this node refuses).
//!
//! Each variant has a stable machine-readable [`NodeError::reason`]. Two mappings exist and
//! each lives in one place: to an HTTP status in `api::error`, and to what a remote peer may be
//! told in [`NodeError::rejection`] (used by every `/cairn/*/1` protocol this node answers).
//! Nothing anywhere recovers a reason by reading an error's text.

use libp2p::PeerId;

use crate::blockstore::BlockstoreError;
use crate::chain::ChainError;
use crate::config::ConfigError;
use crate::content::car::CarError;
use crate::content::ContentError;
use crate::db::DbError;
use crate::erasure::ErasureError;
use crate::keeper::PolicyError;
use crate::market::MarketError;
use crate::net::NetError;
use crate::pay::PayError;
use crate::proof::{PieceError, ProofError};
use crate::signed::SignedError;

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Content(#[from] ContentError),
    #[error(transparent)]
    Blockstore(#[from] BlockstoreError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Car(#[from] CarError),
    /// A keep's policy is out of range.
    #[error("invalid_policy: {0}")]
    Policy(#[from] PolicyError),
    /// A market rule refused an object (ours or a peer's).
    #[error("{reason}: {0}", reason = .0.reason())]
    Market(#[from] MarketError),
    /// Erasure coding refused a scheme, a manifest or a slot, or the data is unrecoverable
    /// from the slots there are.
    #[error("{reason}: {0}", reason = .0.reason())]
    Erasure(#[from] ErasureError),
    /// A payment rule refused an object (ours or a peer's).
    #[error("{reason}: {0}", reason = .0.reason())]
    Pay(#[from] PayError),
    /// The chain refused, could not be reached, or answered unexpectedly.
    #[error("{reason}: {0}", reason = .0.reason())]
    Chain(#[from] ChainError),
    /// A proof or challenge did not verify.
    #[error("{reason}: {0}", reason = .0.reason())]
    Proof(#[from] ProofError),
    /// Building a piece or answering a challenge failed locally.
    #[error(transparent)]
    Piece(PieceError),
    /// A peer could not be reached or did not answer.
    #[error("unreachable: {0}")]
    Net(NetError),
    /// The libp2p host is not running (not started yet, or stopped).
    #[error("offline: the network is not running")]
    Offline,
    /// A peer refused our request with its own reason (a protocol's typed rejection).
    #[error("{peer} refused: {reason}: {detail}")]
    Refused {
        peer: PeerId,
        reason: String,
        detail: String,
    },
    /// A peer answered with something the protocol does not allow at that point.
    #[error("unexpected answer from {peer}: {what}")]
    Protocol { peer: PeerId, what: String },
    /// A request this node refuses, with the reason a caller can act on.
    #[error("{}: {detail}", reason.as_str())]
    Refuse { reason: Refusal, detail: String },
    /// An upload's body ended or failed before it was complete.
    #[error("upload interrupted: {0}")]
    Interrupted(String),
    /// A local invariant failed (a stored row that does not decode, a task that died). The
    /// text is for the log; no caller or peer ever sees it.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Why this node refuses a request. Each is a stable, machine-readable reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Malformed or contradictory input (a field out of range, a bad id).
    Invalid,
    /// This node offers no storage.
    NoAsk,
    /// A paid deal names no usable payment channel.
    Unfunded,
    /// The deal was already proposed.
    Duplicate,
    /// The provider asks more than the client accepts.
    PriceTooHigh,
    /// No such channel (or not ours to act on).
    UnknownChannel,
    /// No such deal here.
    UnknownDeal,
    /// No such keep here.
    UnknownKeep,
    /// No such piece here.
    UnknownPiece,
    /// The transferred DAG's piece differs from the proposal's.
    PieceMismatch,
    /// A root's DAG is not complete in the store.
    IncompleteDag,
    /// The channel is closed.
    ChannelClosed,
    /// The peer's id does not carry an ed25519 key.
    NotEd25519,
    /// Too much in flight: try again later.
    Busy,
    /// The peer settles on another chain or contract than this node (or one of them on none).
    WrongChain,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Invalid => "invalid",
            Refusal::NoAsk => "no_ask",
            Refusal::Unfunded => "unfunded",
            Refusal::Duplicate => "duplicate",
            Refusal::PriceTooHigh => "price_too_high",
            Refusal::UnknownChannel => "unknown_channel",
            Refusal::UnknownDeal => "unknown_deal",
            Refusal::UnknownKeep => "unknown_keep",
            Refusal::UnknownPiece => "unknown_piece",
            Refusal::PieceMismatch => "piece_mismatch",
            Refusal::IncompleteDag => "incomplete_dag",
            Refusal::ChannelClosed => "channel_closed",
            Refusal::NotEd25519 => "not_ed25519",
            Refusal::Busy => "busy",
            Refusal::WrongChain => "wrong_chain",
        }
    }
}

/// What a remote peer is told when its request fails: a reason and a detail that never carry
/// this node's internals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub reason: String,
    pub detail: String,
}

impl NodeError {
    /// A refusal with a reason and a message.
    pub fn refuse(reason: Refusal, detail: impl Into<String>) -> Self {
        NodeError::Refuse {
            reason,
            detail: detail.into(),
        }
    }

    /// Malformed or contradictory input.
    pub fn invalid(detail: impl Into<String>) -> Self {
        Self::refuse(Refusal::Invalid, detail)
    }

    /// A local invariant failed.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        NodeError::Internal(detail.to_string())
    }

    /// The stable, machine-readable reason.
    pub fn reason(&self) -> &str {
        match self {
            NodeError::Market(e) => e.reason(),
            NodeError::Pay(e) => e.reason(),
            NodeError::Proof(e) => e.reason(),
            NodeError::Erasure(e) => e.reason(),
            NodeError::Chain(e) => e.reason(),
            NodeError::Refuse { reason, .. } => reason.as_str(),
            NodeError::Refused { reason, .. } => reason,
            NodeError::Net(_) => "unreachable",
            NodeError::Offline => "offline",
            NodeError::Protocol { .. } => "protocol",
            NodeError::Interrupted(_) => "upload_interrupted",
            NodeError::Policy(_) => "invalid_policy",
            NodeError::Content(_) => "invalid_content",
            NodeError::Car(_) => "invalid_car",
            NodeError::Blockstore(BlockstoreError::Full { .. }) => "store_full",
            NodeError::Blockstore(
                BlockstoreError::ObjectStore { .. } | BlockstoreError::NoCredentials,
            ) => "store_unavailable",
            NodeError::Piece(_)
            | NodeError::Blockstore(_)
            | NodeError::Db(_)
            | NodeError::Config(_)
            | NodeError::Internal(_) => "internal",
        }
    }

    /// What a remote peer may be told about this error. Errors that are the peer's to fix
    /// (a market, payment or proof rule, a refusal) keep their reason and message; anything
    /// local (database, store, network, invariants) becomes `internal` with no detail.
    pub fn rejection(&self) -> Rejection {
        let told = |reason: &str, detail: String| Rejection {
            reason: reason.to_string(),
            detail,
        };
        match self {
            NodeError::Market(e) => told(e.reason(), e.to_string()),
            NodeError::Pay(e) => told(e.reason(), e.to_string()),
            NodeError::Proof(e) => told(e.reason(), e.to_string()),
            NodeError::Refuse { reason, detail } => told(reason.as_str(), detail.clone()),
            NodeError::Policy(e) => told("invalid_policy", e.to_string()),
            NodeError::Blockstore(BlockstoreError::Full { .. }) => {
                told("store_full", "this node's store is full".into())
            }
            NodeError::Offline => told("offline", "the node is shutting down".into()),
            // The peer may retry later; which RPC this node uses is not its business.
            NodeError::Chain(ChainError::Unreachable { .. }) => told(
                "chain_unreachable",
                "this node cannot reach its chain now; try again later".into(),
            ),
            other => {
                tracing::warn!(error = %other, "request from a peer failed");
                told("internal", "internal error".into())
            }
        }
    }
}

/// An amount past what the database keeps is a market rule's refusal.
impl From<crate::amount::AmountTooLarge> for NodeError {
    fn from(e: crate::amount::AmountTooLarge) -> Self {
        NodeError::Market(e.into())
    }
}

/// A stopped network task is the node being offline, not a peer being unreachable.
impl From<NetError> for NodeError {
    fn from(e: NetError) -> Self {
        match e {
            NetError::Stopped => NodeError::Offline,
            other => NodeError::Net(other),
        }
    }
}

impl From<PieceError> for NodeError {
    fn from(e: PieceError) -> Self {
        match e {
            PieceError::Content(e) => NodeError::Content(*e),
            PieceError::Car(e) => NodeError::Car(*e),
            PieceError::BadChallenge(e) => NodeError::Proof(e),
            other => NodeError::Piece(other),
        }
    }
}

/// A signed object that does not verify or decode is a market refusal, with its reason.
impl From<SignedError> for NodeError {
    fn from(e: SignedError) -> Self {
        NodeError::Market(e.into())
    }
}

pub type Result<T, E = NodeError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_is_told_its_own_faults_and_never_our_internals() {
        let ours = NodeError::Db(DbError::UnsupportedUrl("sqlite:/secret/path".into()));
        let told = ours.rejection();
        assert_eq!(told.reason, "internal");
        assert!(!told.detail.contains("secret"), "{told:?}");

        let internal = NodeError::internal("row 7 of deals does not decode");
        assert_eq!(internal.rejection().detail, "internal error");

        let theirs = NodeError::Market(MarketError::ClientDenied);
        assert_eq!(theirs.rejection().reason, "client_denied");
        let refused = NodeError::refuse(Refusal::Unfunded, "no channel");
        assert_eq!(
            refused.rejection(),
            Rejection {
                reason: "unfunded".into(),
                detail: "no channel".into()
            }
        );
    }

    #[test]
    fn reasons_come_from_the_variants() {
        assert_eq!(NodeError::Offline.reason(), "offline");
        assert_eq!(
            NodeError::Proof(ProofError::Late {
                deadline_ms: 1,
                now_ms: 2
            })
            .reason(),
            "late"
        );
        assert_eq!(
            NodeError::Pay(PayError::ChannelClosed).reason(),
            "channel_closed"
        );
        assert_eq!(NodeError::from(NetError::Stopped).reason(), "offline");
        let net = NodeError::from(NetError::Setup("x".into()));
        assert_eq!(net.reason(), "unreachable");
        assert!(net.to_string().starts_with("unreachable"));
        let refused = NodeError::Refused {
            peer: PeerId::random(),
            reason: "over_capacity".into(),
            detail: "full".into(),
        };
        assert_eq!(refused.reason(), "over_capacity");
        // The text carries the reason too, for people reading a CLI message.
        assert!(refused.to_string().contains("over_capacity: full"));
    }

    #[test]
    fn piece_errors_keep_their_typed_cause() {
        let missing = PieceError::Content(Box::new(ContentError::NotFound(
            crate::market::providers_key(),
        )));
        assert!(matches!(
            NodeError::from(missing),
            NodeError::Content(ContentError::NotFound(_))
        ));
        let corrupt = NodeError::from(PieceError::Corrupt("bit rot".into()));
        assert_eq!(corrupt.reason(), "internal");
    }
}
